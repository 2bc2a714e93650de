// Package config is the relay's configuration: the targets to pool (account role × region × models), model
// aliases, budgets, caller API keys and server settings. It is read once, in order: defaults, then the YAML
// file, then environment variables (through an injected getenv), then flags; Validate reports every bad
// field at once, each naming the field and the fix.
package config
