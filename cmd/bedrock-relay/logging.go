package main

import (
	"io"
	"log/slog"
	"strings"
)

// logFlags are the logging flags every long-running command takes: one slog handler per process, in one
// format, so that the relay's, the sandbox's and the access log's lines can be read by one pipeline.
type logFlags struct {
	format *string
	level  *string
}

// addLogFlags adds --log-format (default format: "json" for servers whose lines feed log pipelines, "text"
// for tools a person reads) and --log-level.
func addLogFlags(fs *flagSet, format string) logFlags {
	return logFlags{
		format: fs.String("log-format", format, "log format: text or json"),
		level:  fs.String("log-level", "info", "least level logged: debug, info, warn or error"),
	}
}

// logger builds the process's logger on w, or a usage error naming the bad flag.
func (f logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(*f.level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", *f.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(*f.format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: want text or json", *f.format)
}
