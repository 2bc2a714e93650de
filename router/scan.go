package router

import (
	"bytes"
	"io"
	"net/http"
)

// maxResponse bounds a non-stream response body held in memory.
const maxResponse = 64 << 20

func readAll(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	if resp.ContentLength > 0 && resp.ContentLength <= maxResponse {
		buf := make([]byte, resp.ContentLength)
		_, err := io.ReadFull(resp.Body, buf)
		return buf, err
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxResponse))
}

var maxTokenKeys = [][]byte{[]byte(`"max_tokens"`), []byte(`"maxTokens"`), []byte(`"max_new_tokens"`), []byte(`"max_completion_tokens"`)}

// ScanMaxTokens finds the output-token limit in a request body without decoding it: Anthropic's max_tokens,
// Converse's inferenceConfig.maxTokens, Nova's max_new_tokens. 0 when absent.
func ScanMaxTokens(body []byte) int {
	for _, k := range maxTokenKeys {
		i := bytes.Index(body, k)
		if i < 0 {
			continue
		}
		rest := body[i+len(k):]
		j := 0
		for j < len(rest) && (rest[j] == ' ' || rest[j] == '\t' || rest[j] == '\n' || rest[j] == '\r' || rest[j] == ':') {
			j++
		}
		n := 0
		k := j
		for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' && k-j < 9 {
			n = n*10 + int(rest[k]-'0')
			k++
		}
		if k > j {
			return n
		}
	}
	return 0
}

// EstimateInputTokens is a cheap upper-side guess for budget reservations, corrected when usage comes back.
func EstimateInputTokens(body []byte) int { return len(body)/4 + 1 }
