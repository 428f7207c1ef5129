package gqlauthz

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/grantql/grantql/authz"
)

// How a fuzzed JSON document becomes field arguments: the shapes in which
// gqlgen hands the directive an argument.
const (
	// argsVariables: a variable, decoded as gqlgen's transports decode
	// them (numbers are json.Number).
	argsVariables = iota
	// argsFloats: decoded without UseNumber (numbers are float64), as a
	// caller that builds its own variables may.
	argsFloats
	// argsLiterals: a literal in the query (an Int is an int64, a Float a
	// float64), as ast.Value.Value gives it.
	argsLiterals
	argsModes
)

// decodeArgs decodes doc into a JSON value in the shape of mode; ok is
// false when doc is not JSON.
func decodeArgs(doc []byte, mode uint8) (v any, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	if mode%argsModes != argsFloats {
		dec.UseNumber()
	}
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if mode%argsModes == argsLiterals {
		v = asLiterals(v)
	}
	return v, true
}

// asLiterals turns the json.Numbers of v into what a GraphQL literal of
// the same text becomes: an int64 when it is an integer that fits, a
// float64 otherwise.
func asLiterals(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return n
		}
		f, _ := strconv.ParseFloat(string(x), 64)
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = asLiterals(e)
		}
	case []any:
		for i, e := range x {
			x[i] = asLiterals(e)
		}
	}
	return v
}

// valueAt is the reference for lookupPath: the value at the dotted path in
// args, found one map at a time; ok is false when a step is not an object,
// or the path ends at a missing or null value.
func valueAt(args map[string]any, path string) (v any, ok bool) {
	v = args
	for {
		seg, rest, more := strings.Cut(path, ".")
		m, isMap := v.(map[string]any)
		if !isMap {
			return nil, false
		}
		if v = m[seg]; v == nil {
			return nil, false
		}
		if !more {
			return v, true
		}
		path = rest
	}
}

// nest builds arguments that hold v at path and nothing else.
func nest(path string, v any) map[string]any {
	segs := strings.Split(path, ".")
	for i := len(segs) - 1; i >= 0; i-- {
		v = map[string]any{segs[i]: v}
	}
	return v.(map[string]any)
}

// sameValue reports whether a and b are the same argument value: equal,
// and for objects and lists the very same one, not a copy.
func sameValue(a, b any) bool {
	if !reflect.DeepEqual(a, b) {
		return false
	}
	switch a.(type) {
	case map[string]any, []any:
		return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer()
	}
	return true
}

// wantProjectID is the reference for ParseID: the id v names and
// whether it is one. An id is a positive integer that fits an int64, sent
// as a string or json.Number of decimal digits (with an optional '+' and
// leading zeros, as graph's parseID accepts them too, so that the
// directive and the resolver read the same id), as an int64 or int, or as
// a float64 with no fraction.
func wantProjectID(v any) (int64, bool) {
	switch x := v.(type) {
	case string:
		return decimalID(x)
	case json.Number:
		return decimalID(string(x))
	case int64:
		return x, x > 0
	case int:
		return int64(x), x > 0
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || x != math.Floor(x) {
			return 0, false
		}
		n, acc := big.NewFloat(x).Int(nil)
		if acc != big.Exact || n.Sign() <= 0 || !n.IsInt64() {
			return 0, false
		}
		return n.Int64(), true
	}
	return 0, false
}

func decimalID(s string) (int64, bool) {
	digits := strings.TrimPrefix(s, "+")
	if digits == "" {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, ok := new(big.Int).SetString(digits, 10)
	if !ok || n.Sign() <= 0 || !n.IsInt64() {
		return 0, false
	}
	return n.Int64(), true
}

// FuzzProjectPath holds the directive's project resolution (lookupPath,
// then ParseID) to its references on arbitrary arguments and paths:
// it never panics; a path resolves only to the value present at that path
// (found by valueAt, and always found when the arguments are built to hold
// it there); an id is accepted only when wantProjectID accepts it, and
// then it is exactly that id; everything else is an ErrInvalidInput, never
// a silent 0 or another id.
func FuzzProjectPath(f *testing.F) {
	for _, s := range []struct {
		path, doc string
		mode      uint8
	}{
		{"project", `{"project": "7"}`, argsVariables},
		{"project", `{"project": 7}`, argsVariables},
		{"project", `{"project": 7}`, argsFloats},
		{"project", `{"project": 7}`, argsLiterals},
		{"input.project", `{"input": {"project": "42", "title": "t"}}`, argsVariables},
		{"input.project", `{"input": {"project": 42}}`, argsLiterals},
		{"input.project", `{"input": {"project": null}}`, argsVariables},
		{"input.project", `{"input": {}}`, argsVariables},
		{"input.project", `{"input": "7"}`, argsVariables},
		{"input.project", `{"input": ["7"]}`, argsVariables},
		{"input.project", `{"input": null}`, argsVariables},
		{"input.project", `{"project": "7"}`, argsVariables},
		{"project", `{"input": {"project": "7"}}`, argsVariables},
		{"input.project.id", `{"input": {"project": {"id": "3"}}}`, argsVariables},
		{"input.project", `{"input.project": "5"}`, argsVariables},
		{"", `{"": "5"}`, argsVariables},
		{".", `{"": {"": "5"}}`, argsVariables},
		{"input..project", `{"input": {"": {"project": "5"}}}`, argsVariables},
		{"project", `{"project": "0"}`, argsVariables},
		{"project", `{"project": "-1"}`, argsVariables},
		{"project", `{"project": "+7"}`, argsVariables},
		{"project", `{"project": "007"}`, argsVariables},
		{"project", `{"project": " 7"}`, argsVariables},
		{"project", `{"project": "7 "}`, argsVariables},
		{"project", `{"project": "7\u0000"}`, argsVariables},
		{"project", `{"project": "0x10"}`, argsVariables},
		{"project", `{"project": "1_000"}`, argsVariables},
		{"project", `{"project": "1e3"}`, argsVariables},
		{"project", `{"project": "\u0667"}`, argsVariables},
		{"project", `{"project": ""}`, argsVariables},
		{"project", `{"project": "9223372036854775807"}`, argsVariables},
		{"project", `{"project": "9223372036854775808"}`, argsVariables},
		{"project", `{"project": 9223372036854775807}`, argsVariables},
		{"project", `{"project": 9223372036854775808}`, argsVariables},
		{"project", `{"project": 9223372036854775807}`, argsFloats},
		{"project", `{"project": 9223372036854775808}`, argsFloats},
		{"project", `{"project": 9223372036854775808}`, argsLiterals},
		{"project", `{"project": 18446744073709551616}`, argsFloats},
		{"project", `{"project": 1e400}`, argsFloats},
		{"project", `{"project": -9223372036854775808}`, argsLiterals},
		{"project", `{"project": -9223372036854775809}`, argsFloats},
		{"project", `{"project": 7.0}`, argsVariables},
		{"project", `{"project": 7.0}`, argsFloats},
		{"project", `{"project": 7.5}`, argsFloats},
		{"project", `{"project": 7.5}`, argsLiterals},
		{"project", `{"project": 1e3}`, argsVariables},
		{"project", `{"project": 1e3}`, argsFloats},
		{"project", `{"project": 0.0}`, argsFloats},
		{"project", `{"project": -0.0}`, argsFloats},
		{"project", `{"project": 5e-324}`, argsFloats},
		{"project", `{"project": -7}`, argsLiterals},
		{"project", `{"project": true}`, argsVariables},
		{"project", `{"project": ["7"]}`, argsVariables},
		{"project", `{"project": {"id": "7"}}`, argsVariables},
		{"project", `[]`, argsVariables},
		{"project", `"7"`, argsVariables},
		{"project", `{`, argsVariables},
	} {
		f.Add(s.path, []byte(s.doc), s.mode)
	}
	f.Fuzz(func(t *testing.T, path string, doc []byte, mode uint8) {
		v, ok := decodeArgs(doc, mode)
		if !ok {
			// Not JSON: still a value to place at the path.
			v = string(doc)
		}
		if args, isMap := v.(map[string]any); isMap {
			checkProjectPath(t, args, path)
		}
		checkProjectPath(t, nest(path, v), path)
	})
}

// checkProjectPath resolves path in args as the directive does and checks
// each step against its reference.
func checkProjectPath(t *testing.T, args map[string]any, path string) {
	t.Helper()
	got, err := lookupPath(args, path)
	want, found := valueAt(args, path)
	if (err == nil) != found {
		t.Fatalf("lookupPath(%v, %q) = %#v, %v, want found = %v", args, path, got, err, found)
	}
	if err != nil {
		if !errors.Is(err, authz.ErrInvalidInput) {
			t.Fatalf("lookupPath(%v, %q) = %v, want an ErrInvalidInput", args, path, err)
		}
		return
	}
	if !sameValue(got, want) {
		t.Fatalf("lookupPath(%v, %q) = %#v, want %#v, the value at that path", args, path, got, want)
	}
	id, err := ParseID(path, got)
	wantID, valid := wantProjectID(got)
	switch {
	case !valid && err == nil:
		t.Fatalf("ParseID(%q, %#v) = %d, want an error", path, got, id)
	case !valid && !errors.Is(err, authz.ErrInvalidInput):
		t.Fatalf("ParseID(%q, %#v) = %v, want an ErrInvalidInput", path, got, err)
	case !valid && id != 0:
		t.Fatalf("ParseID(%q, %#v) = %d, %v, want 0 with the error", path, got, id, err)
	case valid && (err != nil || id != wantID):
		t.Fatalf("ParseID(%q, %#v) = %d, %v, want %d", path, got, id, err, wantID)
	}
}
