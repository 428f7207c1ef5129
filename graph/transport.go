package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// jsonPOST is gqlgen's POST transport behind a check of the body's shape:
// a body that is not one JSON object of the members a GraphQL request has
// is refused with 400 and a message in the client's terms. gqlgen's own
// refusal names Go types (graphql.RawParams) and echoes the whole body
// back, which a client does not need (it sent it) and a log or proxy
// that keeps answers should not hold.
type jsonPOST struct{ transport.POST }

func (t jsonPOST) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeHTTPError(w, http.StatusBadRequest, CodeBadUserInput, "could not read the request body")
		return
	}
	if problem := bodyProblem(body); problem != "" {
		writeHTTPError(w, http.StatusBadRequest, CodeBadUserInput, problem)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	t.POST.Do(w, r, exec)
}

// requestShape is what a POST body holds: the members of
// graphql.RawParams, kept raw so that checking their kinds decodes
// nothing but the body's outline.
type requestShape struct {
	Query         json.RawMessage `json:"query"`
	OperationName json.RawMessage `json:"operationName"`
	Variables     json.RawMessage `json:"variables"`
	Extensions    json.RawMessage `json:"extensions"`
}

// bodyProblem says what is wrong with a POST body, "" when it is one JSON
// object whose query and operationName are strings and whose variables
// and extensions are objects (each may be absent or null). It never
// repeats the body.
func bodyProblem(body []byte) string {
	const want = `one JSON object such as {"query": "{ viewer { id } }"}`
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return "the request body is empty; send " + want
	case trimmed[0] == '[':
		return "batched requests (a JSON array) are not supported; send " + want + " per request"
	}
	var shape requestShape
	err := json.Unmarshal(body, &shape)
	var syntax *json.SyntaxError
	var kind *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("the request body is not valid JSON (at byte %d); send %s", syntax.Offset, want)
	case errors.As(err, &kind) && kind.Field == "":
		return fmt.Sprintf("the request body must be %s, not %s", want, jsonKindName(kind.Value))
	case err != nil:
		return "the request body could not be read as " + want
	}
	for _, m := range []struct {
		name  string
		value json.RawMessage
		kind  byte // the first byte of the kind wanted
	}{
		{"query", shape.Query, '"'}, {"operationName", shape.OperationName, '"'},
		{"variables", shape.Variables, '{'}, {"extensions", shape.Extensions, '{'},
	} {
		if len(m.value) == 0 || m.value[0] == m.kind || string(m.value) == "null" {
			continue
		}
		what := "a string"
		if m.kind == '{' {
			what = "a JSON object"
		}
		return fmt.Sprintf("the request's %q must be %s, not %s", m.name, what, jsonKindName(rawKind(m.value)))
	}
	return ""
}

// rawKind names the kind of a JSON value as encoding/json's errors do.
func rawKind(v json.RawMessage) string {
	switch v[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	}
	return "number"
}

// jsonKindName turns encoding/json's name of a kind ("array", "bool")
// into words.
func jsonKindName(kind string) string {
	switch kind {
	case "array":
		return "an array"
	case "object":
		return "an object"
	case "bool":
		return "a boolean"
	}
	if strings.HasPrefix(kind, "number") {
		return "a number"
	}
	return "a " + kind
}

// unsupportedRequest is the GraphQL endpoint's last transport: it takes
// every request that GET and POST do not, answers OPTIONS with the
// methods the endpoint takes (204; NewMux answers a browser's preflight
// before it gets here), and refuses the rest with a status and a coded
// error that say what the endpoint reads.
type unsupportedRequest struct{}

func (unsupportedRequest) Supports(*http.Request) bool { return true }

// endpointMethods are the methods of the GraphQL endpoint, for Allow.
const endpointMethods = "GET, POST, OPTIONS"

func (unsupportedRequest) Do(w http.ResponseWriter, r *http.Request, _ graphql.GraphExecutor) {
	if r.Method == http.MethodOptions {
		w.Header().Set("Allow", endpointMethods)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", endpointMethods)
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
