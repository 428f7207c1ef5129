package graph

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
)

// unsupportedRequest is the GraphQL endpoint's last transport: it takes
// every request that GET and POST do not, and refuses it with a status
// and a coded error that say what the endpoint reads.
type unsupportedRequest struct{}

func (unsupportedRequest) Supports(*http.Request) bool { return true }

func (unsupportedRequest) Do(w http.ResponseWriter, r *http.Request, _ graphql.GraphExecutor) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		writeHTTPError(w, http.StatusMethodNotAllowed, CodeBadUserInput,
			"the GraphQL endpoint takes GET and POST requests, not "+r.Method)
		return
	}
	writeHTTPError(w, http.StatusUnsupportedMediaType, CodeBadUserInput,
		"a POST request's Content-Type must be application/json")
}

// withErrorCodes gives a code to every error of a refused request (a
// status of 400 or more) that has none: gqlgen's GET transport writes its
// own refusals (a mutation over GET, undecodable variables or query
// string) past the error presenter. Such answers are small and are
// buffered; any other answer goes straight through.
func withErrorCodes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &codingWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		cw.finish()
	})
}

// codingWriter holds back the body of a response whose status is 400 or
// more until finish adds the missing codes.
type codingWriter struct {
	http.ResponseWriter
	status int // 0 until the header is written
	held   bytes.Buffer
}

func (w *codingWriter) WriteHeader(status int) {
	if w.status != 0 {
		return
	}
	w.status = status
	if status < http.StatusBadRequest {
		w.ResponseWriter.WriteHeader(status)
	}
}

func (w *codingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.status < http.StatusBadRequest {
		return w.ResponseWriter.Write(b)
	}
	return w.held.Write(b)
}

// Flush passes on flushes of answers that are not held back.
func (w *codingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && w.status != 0 && w.status < http.StatusBadRequest {
		f.Flush()
	}
}

func (w *codingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish writes a held-back answer, with a code on each of its errors.
func (w *codingWriter) finish() {
	if w.status < http.StatusBadRequest {
		return
	}
	body := w.held.Bytes()
	var resp map[string]any
	if json.Unmarshal(body, &resp) == nil {
		if errs, ok := resp["errors"].([]any); ok {
			added := false
			for _, e := range errs {
				added = addCode(e) || added
			}
			if b, err := json.Marshal(resp); added && err == nil {
				body = b
			}
		}
	}
	w.Header().Del("Content-Length")
	w.ResponseWriter.WriteHeader(w.status)
	w.ResponseWriter.Write(body)
}

// addCode gives a GraphQL error without extensions.code BAD_USER_INPUT
// (every such refusal is of the request's form), and reports whether it
// did.
func addCode(e any) bool {
	m, ok := e.(map[string]any)
	if !ok {
		return false
	}
	ext, _ := m["extensions"].(map[string]any)
	if _, ok := ext["code"]; ok {
		return false
	}
	if ext == nil {
		ext = map[string]any{}
		m["extensions"] = ext
	}
	ext["code"] = CodeBadUserInput
	return true
}
