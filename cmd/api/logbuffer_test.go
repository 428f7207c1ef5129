package main

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestLogBuffer: an INFO line waits for the interval, a WARN line is
// written at once with the lines before it, in order, and Close writes
// what is left; nothing is lost or reordered.
func TestLogBuffer(t *testing.T) {
	var out syncBuffer
	lines := newLogBuffer(&out, time.Hour) // only WARN and Close write
	log := slog.New(flushingHandler{Handler: slog.NewTextHandler(lines, nil), buf: lines})

	log.Info("first")
	if got := out.String(); got != "" {
		t.Fatalf("after an INFO line the output is %q, want nothing yet", got)
	}
	log.Warn("second")
	if got := out.String(); !strings.Contains(got, "msg=first") || !strings.Contains(got, "msg=second") ||
		strings.Index(got, "msg=first") > strings.Index(got, "msg=second") {
		t.Fatalf("after a WARN line the output is %q, want first then second", got)
	}
	log.With("k", "v").Info("third")
	log.With("k", "v").Error("fourth")
	if got := out.String(); !strings.Contains(got, "msg=fourth k=v") {
		t.Fatalf("after an ERROR line from a derived logger the output is %q, want fourth", got)
	}
	log.Info("fifth")
	if err := lines.Close(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if n := strings.Count(got, "\n"); n != 5 || !strings.HasSuffix(got, "msg=fifth\n") {
		t.Errorf("after Close the output is %q, want 5 lines ending with fifth", got)
	}

	// The interval writes by itself.
	var timed syncBuffer
	lines = newLogBuffer(&timed, 10*time.Millisecond)
	defer lines.Close()
	slog.New(slog.NewTextHandler(lines, nil)).Info("waits")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(timed.String(), "msg=waits"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("an INFO line was not written within 5s of a 10ms interval")
		}
	}
}
