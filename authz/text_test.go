package authz_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/grantql/grantql/authz"
)

// TestValidateText: what every input string must be, and that a refusal
// is an ErrInvalidInput naming the field.
func TestValidateText(t *testing.T) {
	for _, c := range []struct {
		value    string
		max      int
		newlines bool
		want     string // a substring of the error; "" for none
	}{
		{"plain text, é ☃", 0, false, ""},
		{"line\nbreak\ttab\r", 0, true, ""},
		{"line\nbreak", 0, false, "U+000A at character 5"},
		{"tab\t", 0, false, "U+0009"},
		{"nul\x00", 0, true, "U+0000 at character 4"},
		{"esc\x1b[0m", 0, true, "U+001B"},
		{"del\x7f", 0, true, "U+007F"},
		{"c1\u0085", 0, true, "U+0085"},
		{"bad \xff utf-8", 0, true, "is not valid UTF-8 (at byte 4)"},
		{strings.Repeat("é", 10), 10, false, ""},
		{strings.Repeat("é", 11), 10, false, "is 11 characters long, at most 10 are allowed"},
	} {
		err := authz.ValidateText("title", c.value, c.max, c.newlines)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("ValidateText(%q, %d, %v) = %v, want nil", c.value, c.max, c.newlines, err)
		case c.want != "" && (err == nil || !errors.Is(err, authz.ErrInvalidInput) ||
			!strings.HasPrefix(err.Error(), "title ") || !strings.Contains(err.Error(), c.want)):
			t.Errorf("ValidateText(%q, %d, %v) = %v, want an ErrInvalidInput naming title and saying %q", c.value, c.max, c.newlines, err, c.want)
		}
	}
}
