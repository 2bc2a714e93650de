package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"

	"github.com/bedrock-relay/bedrock-relay/config"
)

func init() {
	register(command{name: "keys", synopsis: "make a caller API key: keys new NAME [--models m1,m2] prints it once and its config stanza", run: runKeys})
}

var keyNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

const keysSynopsis = "keys new NAME [--models '*' | --models id,alias,...]"

func runKeys(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "keys new", keysSynopsis)
	models := fs.String("models", "*", "comma-separated models the key may call: foundation-model ids, aliases, or *")
	if len(args) == 0 || args[0] != "new" {
		if len(args) > 0 && strings.HasPrefix(args[0], "-") {
			// keys -h prints the flags of keys new, its one subcommand; a bad flag is reported by the flag package.
			if err := fs.parse(args); err != nil {
				return err
			}
		} else if len(args) > 0 {
			fmt.Fprintf(e.stderr, "bedrock-relay keys: unknown subcommand %q\n", args[0])
		}
		fmt.Fprintf(e.stderr, "usage: bedrock-relay %s\n", keysSynopsis)
		return errUsage
	}
	args = args[1:]
	// NAME may come before the flags or after them.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.parse(args); err != nil {
		return err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
		if err := fs.parse(fs.Args()[1:]); err != nil {
			return err
		}
	}
	if err := fs.noArgs(); err != nil {
		return err
	}
	if !keyNameRe.MatchString(name) {
		fmt.Fprintln(e.stderr, "bedrock-relay keys new: NAME is required: 1-64 letters, digits and ._@- (it names the caller in logs and errors)")
		return errUsage
	}
	var list []string
	for _, m := range strings.Split(*models, ",") {
		if m = strings.TrimSpace(m); m != "" {
			list = append(list, fmt.Sprintf("%q", m))
		}
	}
	if len(list) == 0 {
		list = []string{`"*"`}
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("keys new: %w", err)
	}
	key := "brk-" + base64.RawURLEncoding.EncodeToString(raw)
	fmt.Fprintf(e.stdout, "# API key for %s, shown this once: give it to the caller now (they set AWS_BEARER_TOKEN_BEDROCK to it).\n", name)
	fmt.Fprintln(e.stdout, key)
	fmt.Fprintln(e.stdout, "# Add this under auth.keys in relay.yaml; the relay keeps only the key's SHA-256:")
	fmt.Fprintf(e.stdout, "  - name: %s\n    sha256: %s\n    models: [%s]\n", name, config.HashKey(key), strings.Join(list, ", "))
	return nil
}
