// Package config is the relay's configuration: the targets to pool (account role × region × models), model
// aliases, budgets, caller API keys and server settings. It is read once, in order: defaults, then the YAML
// file, then environment variables (through an injected getenv), then flags; Validate reports every bad
// field at once, each naming the field and the fix.
//
// The state section says where budget windows and cooldowns are kept: memory (each process its own, the
// default) or redis (shared by every replica and Lambda instance; see ratelimit/redisstore). Its password
// comes only from an environment variable (password_env) or a file (password_file), never the config itself.
package config
