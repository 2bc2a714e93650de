package sandbox

import (
	"unicode"
	"unicode/utf8"
)

// The sandbox counts tokens with a deliberately simple rule so that numbers are stable across runs and easy to
// predict in tests: one token per whitespace-separated word (words longer than maxWordRunes count once per
// maxWordRunes runes) and one token per CJK character. Real tokenizers differ; what matters to callers of the
// sandbox (quotas, usage, max_tokens) is that the count is deterministic and roughly proportional to text.
const (
	maxWordRunes       = 10
	tokensPerRequest   = 3    // fixed overhead of every request
	tokensPerMessage   = 4    // role markers and block framing
	tokensPerTool      = 8    // tool framing, on top of its name, description and schema
	tokensPerImage     = 1600 // a typical ~1 MP image in Claude's accounting
	tokensPerToolBlock = 4    // a tool_use block in the output, on top of its name and input
)

// splitTokens cuts s into pieces, one per token, each carrying the whitespace before it; the pieces
// concatenate back to s (trailing whitespace is kept on the last piece). It is the one definition of a token:
// countTokens counts these pieces and max_tokens cuts and stream deltas use them.
func splitTokens(s string) []string {
	var out []string
	start := 0 // start of the current piece (including its leading whitespace)
	inWord := false
	wordRunes := 0
	for i, r := range s {
		switch {
		case unicode.IsSpace(r):
			if inWord {
				out = append(out, s[start:i])
				start = i
				inWord = false
			}
		case isCJK(r):
			if inWord {
				out = append(out, s[start:i])
				start = i
			}
			end := i + utf8.RuneLen(r)
			if r == utf8.RuneError {
				end = i + 1
			}
			out = append(out, s[start:end])
			start = end
			inWord = false
		default:
			if inWord && wordRunes == maxWordRunes {
				out = append(out, s[start:i])
				start = i
				wordRunes = 0
			}
			if !inWord {
				inWord = true
				wordRunes = 0
			}
			wordRunes++
		}
	}
	if start < len(s) {
		if inWord || len(out) == 0 {
			out = append(out, s[start:])
		} else {
			out[len(out)-1] += s[start:]
		}
	}
	return out
}

// isCJK reports whether r is a character that CJK tokenizers roughly count one each.
func isCJK(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) ||
		(r >= 0x3000 && r <= 0x303F) || // CJK punctuation
		(r >= 0xFF00 && r <= 0xFFEF) // full-width forms
}

// countTokens is the sandbox's deterministic token count of text: at least 1 for non-empty text.
func countTokens(s string) int {
	if s == "" {
		return 0
	}
	return max(1, len(splitTokens(s)))
}

// truncateTokens returns the first n tokens of s and whether anything was cut.
func truncateTokens(s string, n int) (string, bool) {
	if n <= 0 {
		return "", s != ""
	}
	pieces := splitTokens(s)
	if len(pieces) <= n {
		return s, false
	}
	size := 0
	for _, p := range pieces[:n] {
		size += len(p)
	}
	return s[:size], true
}

// inputTokens is what the request costs as input: system prompt, every message, every tool spec and every
// image, plus fixed framing.
func (c conversation) inputTokens() int {
	n := tokensPerRequest + countTokens(c.System)
	for _, t := range c.Messages {
		n += tokensPerMessage + countTokens(t.Text)
	}
	for _, t := range c.Tools {
		n += tokensPerTool + countTokens(t.Name) + countTokens(t.Description) + countTokens(string(t.Schema))
	}
	n += tokensPerImage * c.Images
	return n
}
