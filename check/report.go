package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes a table of ✓/✗ per target, model and step, then the diagnoses.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	if r.Caller != "" {
		fmt.Fprintf(&b, "Caller: %s\n\n", r.Caller)
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	// The KEY SESSION column is there only when the per-key sessions were checked (Options.KeySession).
	keyCol := false
	for _, t := range r.Targets {
		for _, s := range t.Steps {
			keyCol = keyCol || s.Name == StepKeySession
		}
	}
	if keyCol {
		fmt.Fprintln(tw, "TARGET\tMODEL\tIDENTITY\tASSUME ROLE\tKEY SESSION\tMODEL ACCESS\tINVOKE\tQUOTAS")
	} else {
		fmt.Fprintln(tw, "TARGET\tMODEL\tIDENTITY\tASSUME ROLE\tMODEL ACCESS\tINVOKE\tQUOTAS")
	}
	for _, t := range r.Targets {
		ident, assume := stepOf(t.Steps, StepIdentity), stepOf(t.Steps, StepAssumeRole)
		assumeCell := assume.Status.Symbol()
		if keyCol {
			assumeCell += "\t" + stepOf(t.Steps, StepKeySession).Status.Symbol()
		}
		models := t.Models
		if len(models) == 0 {
			models = []ModelResult{{}}
		}
		for _, m := range models {
			quotas := stepOf(m.Steps, StepQuotas)
			qcell := quotas.Status.Symbol()
			if m.Quota != nil {
				qcell += fmt.Sprintf(" %d rpm, %d tpm", m.Quota.RequestsPerMinute, m.Quota.TokensPerMinute)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Target.Name, m.Model, ident.Status.Symbol(), assumeCell,
				stepOf(m.Steps, StepModelAccess).Status.Symbol(), stepOf(m.Steps, StepInvoke).Status.Symbol(), qcell)
		}
	}
	tw.Flush()
	if len(r.Diagnoses) > 0 {
		b.WriteString("\nDiagnoses:\n")
	}
	for i, d := range r.Diagnoses {
		where := d.Target
		if d.Model != "" {
			where += " " + d.Model
		}
		if where != "" {
			where = "[" + where + "] "
		}
		fmt.Fprintf(&b, "\n%d. %s%s: %s\n", i+1, where, d.Step, d.Problem)
		for _, f := range d.Fixes {
			fmt.Fprintf(&b, "   %s\n", f.Text)
			if f.Add != nil {
				js, err := f.Add.MarshalIndent()
				if err != nil {
					return err
				}
				fmt.Fprintf(&b, "   Add to %s:\n", f.Where)
				for _, line := range strings.Split(strings.TrimRight(string(js), "\n"), "\n") {
					b.WriteString("     " + line + "\n")
				}
			}
		}
	}
	if n := r.Failed(); n > 0 {
		fmt.Fprintf(&b, "\n%d step(s) failed.\n", n)
	} else {
		b.WriteString("\nAll checks passed.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func stepOf(steps []Step, name string) Step {
	for _, s := range steps {
		if s.Name == name {
			return s
		}
	}
	return Step{Name: name, Status: Skip}
}
