package authz

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// TextError says why an input string is refused: it is not valid UTF-8,
// holds a control character where none belongs, or is too long. It is an
// ErrInvalidInput, so that a string the database could not store (a NUL
// byte, which PostgreSQL refuses in text) is the client's mistake, named
// as such, and never an internal error.
type TextError struct {
	// Field names the input in the client's terms ("group name",
	// "input.title"); empty when the caller does not know it, for the
	// GraphQL layer to fill in from the argument's path.
	Field string
	// Problem says what is wrong, as the end of a sentence whose subject
	// is the field: "must not contain the control character U+0000".
	Problem string
}

func (e *TextError) Error() string {
	if e.Field == "" {
		return "a string " + e.Problem
	}
	return e.Field + " " + e.Problem
}

// Is makes errors.Is(err, ErrInvalidInput) true.
func (e *TextError) Is(target error) bool { return target == ErrInvalidInput }

// ValidateText reports why value, the input named field, is refused, or
// nil. Every input string must be valid UTF-8 and hold no control
// character (Unicode category Cc: NUL, escape, DEL and the rest), except
// newline, carriage return and tab when allowNewlines says the field is
// free text (a page body, a rule's expression or description); and, when
// maxLen is above 0, be at most maxLen characters long. The GraphQL layer
// applies it to every String and ID argument as it decodes them, and the
// engine again, with each field's own length, to what it stores.
func ValidateText(field, value string, maxLen int, allowNewlines bool) error {
	n := 0
	for i := 0; i < len(value); {
		c, size := utf8.DecodeRuneInString(value[i:])
		switch {
		case c == utf8.RuneError && size <= 1:
			return &TextError{Field: field, Problem: fmt.Sprintf("is not valid UTF-8 (at byte %d)", i)}
		case unicode.IsControl(c) && !(allowNewlines && (c == '\n' || c == '\r' || c == '\t')):
			what := "control characters"
			if !allowNewlines {
				what = "control characters, line breaks or tabs"
			}
			return &TextError{Field: field, Problem: fmt.Sprintf("must not contain %s (U+%04X at character %d)", what, c, n+1)}
		}
		i += size
		n++
	}
	if maxLen > 0 && n > maxLen {
		return &TextError{Field: field, Problem: fmt.Sprintf("is %d characters long, at most %d are allowed", n, maxLen)}
	}
	return nil
}
