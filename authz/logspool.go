package authz

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// LogSpool is a directory of files holding decision logs that the store
// could not take in time: the LogWriter spills into it the logs still
// pending when its Close deadline passes, and those it gave up on, and
// the next start replays them into the store with Replay before it
// serves. Nothing is written to it while the store keeps up: it is the
// writer's way out, not part of its hot path.
//
// Each spill is one file of JSON lines, one log a line, written under a
// temporary name, fsync'd, and then renamed into place, so that a spool
// file is either whole or absent. A file is named after the database its
// logs belong to, so that several databases can share a directory and a
// log is only ever replayed into the database of its check.
type LogSpool struct {
	dir    string
	prefix string // decision-logs-<database key>-
	seq    atomic.Int64
}

// spoolExt ends the name of every complete spool file.
const spoolExt = ".jsonl"

// spoolReplayBatch is how many spooled logs Replay stores in one
// transaction: the LogWriter's default batch, a size the store is known
// to take at once on both databases.
const spoolReplayBatch = 500

// DecisionLogReplayStore stores logs that may have been stored before.
type DecisionLogReplayStore interface {
	// WriteDecisionLogsOnce stores, in one transaction, those of logs
	// whose UID is not stored yet, and returns how many it stored.
	WriteDecisionLogsOnce(ctx context.Context, logs []DecisionLog) (int, error)
}

// NewLogSpool opens the spool in dir for the database named database (an
// identity without credentials, such as a host, port and database name,
// or an SQLite file's absolute path). It creates dir if need be and
// proves that a file can be written in it, so that a spool that could
// not take a spill fails the start, not the shutdown.
func NewLogSpool(dir, database string) (*LogSpool, error) {
	if dir == "" {
		return nil, errors.New("decision log spool: no directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("decision log spool: %w", err)
	}
	probe, err := os.CreateTemp(dir, ".decision-logs-probe-*")
	if err != nil {
		return nil, fmt.Errorf("decision log spool %s is not writable: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	sum := sha256.Sum256([]byte(database))
	return &LogSpool{dir: dir, prefix: "decision-logs-" + hex.EncodeToString(sum[:6]) + "-"}, nil
}

// Dir returns the spool's directory.
func (s *LogSpool) Dir() string { return s.dir }

// spooledLog is a DecisionLog as a spool file holds it: named fields, so
// that a spool written by one version is read by the next.
type spooledLog struct {
	UID        string        `json:"uid"`
	Name       string        `json:"name"`
	Perm       string        `json:"permission"`
	Allowed    bool          `json:"allowed"`
	Reason     Reason        `json:"reason"`
	User       int64         `json:"user,omitempty"`
	Project    int64         `json:"project,omitempty"`
	ObjectType string        `json:"objectType,omitempty"`
	ObjectID   string        `json:"objectId,omitempty"`
	Entries    []spooledLine `json:"entries"`
	Source     string        `json:"source,omitempty"`
	RequestID  string        `json:"requestId,omitempty"`
	Backend    string        `json:"backend,omitempty"`
	CreatedAt  time.Time     `json:"createdAt"`
}

type spooledLine struct {
	Text string   `json:"text"`
	Tags []string `json:"tags,omitempty"`
}

func toSpooled(l DecisionLog) spooledLog {
	s := spooledLog{UID: l.UID, Name: l.Name, Perm: l.Perm, Allowed: l.Allowed, Reason: l.Reason, User: l.User,
		Project: l.Project, ObjectType: l.ObjectType, ObjectID: l.ObjectID, Source: l.Source, RequestID: l.RequestID,
		Backend: l.Backend, CreatedAt: l.CreatedAt, Entries: make([]spooledLine, len(l.Entries))}
	for i, e := range l.Entries {
		s.Entries[i] = spooledLine{Text: e.Text, Tags: e.Tags}
	}
	return s
}

func (s spooledLog) log() DecisionLog {
	l := DecisionLog{UID: s.UID, Name: s.Name, Perm: s.Perm, Allowed: s.Allowed, Reason: s.Reason, User: s.User,
		Project: s.Project, ObjectType: s.ObjectType, ObjectID: s.ObjectID, Source: s.Source, RequestID: s.RequestID,
		Backend: s.Backend, CreatedAt: s.CreatedAt, Entries: make([]LogEntry, len(s.Entries))}
	for i, e := range s.Entries {
		l.Entries[i] = LogEntry{Text: e.Text, Tags: e.Tags}
	}
	return l
}

// Spill writes logs durably into a new spool file and returns its path:
// once Spill returns nil, the logs survive the process and a crash of the
// machine. Each log must have a UID, which is what makes their replay
// idempotent.
func (s *LogSpool) Spill(logs []DecisionLog) (string, error) {
	if len(logs) == 0 {
		return "", nil
	}
	name := fmt.Sprintf("%s%s-%d-%d%s", s.prefix, time.Now().UTC().Format("20060102T150405.000000000"),
		os.Getpid(), s.seq.Add(1), spoolExt)
	tmp, err := os.CreateTemp(s.dir, "."+name+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("spill %d decision logs: %w", len(logs), err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	buf := bufio.NewWriterSize(tmp, 64<<10)
	enc := json.NewEncoder(buf)
	for _, l := range logs {
		if err := enc.Encode(toSpooled(l)); err != nil {
			return "", fmt.Errorf("spill decision log %q: %w", l.Name, err)
		}
	}
	if err := buf.Flush(); err != nil {
		return "", fmt.Errorf("spill %d decision logs: %w", len(logs), err)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("spill %d decision logs: fsync: %w", len(logs), err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("spill %d decision logs: %w", len(logs), err)
	}
	path := filepath.Join(s.dir, name)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("spill %d decision logs: %w", len(logs), err)
	}
	ok = true
	// The rename is durable once the directory is.
	if err := syncDir(s.dir); err != nil {
		return path, fmt.Errorf("spill %d decision logs: fsync %s: %w", len(logs), s.dir, err)
	}
	return path, nil
}

// syncDir fsyncs a directory, so that a file created or removed in it
// stays so after a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Files returns the paths of the spool's complete files for its database,
// oldest first.
func (s *LogSpool) Files() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("read the decision log spool: %w", err)
	}
	var files []string
	for _, e := range entries {
		if n := e.Name(); e.Type().IsRegular() && strings.HasPrefix(n, s.prefix) && strings.HasSuffix(n, spoolExt) {
			files = append(files, filepath.Join(s.dir, n))
		}
	}
	slices.Sort(files) // the names begin with the spill's time
	return files, nil
}

// SpoolReplay counts what Replay did.
type SpoolReplay struct {
	Files   int // spool files replayed and removed
	Logs    int // logs read from them
	Stored  int // logs stored by the replay
	Present int // logs found stored already (written before the spill finished, or by an earlier replay)
}

// Replay stores every log of the spool's files into store, file by file,
// and removes each file once all its logs are committed. It is
// idempotent: a log whose UID is stored already is skipped, so a replay
// that a crash cut short, or a log that was written after all while it
// was being spilled, is stored once. On an error the file at hand is
// kept for the next replay and Replay returns what it had done.
func (s *LogSpool) Replay(ctx context.Context, store DecisionLogReplayStore) (SpoolReplay, error) {
	var r SpoolReplay
	files, err := s.Files()
	if err != nil {
		return r, err
	}
	for _, path := range files {
		logs, err := readSpoolFile(path)
		if err != nil {
			return r, err
		}
		r.Logs += len(logs)
		for batch := range slices.Chunk(logs, spoolReplayBatch) {
			n, err := store.WriteDecisionLogsOnce(ctx, batch)
			r.Stored += n
			if err != nil {
				return r, fmt.Errorf("replay %s: %w", filepath.Base(path), err)
			}
			r.Present += len(batch) - n
		}
		if err := os.Remove(path); err != nil {
			return r, fmt.Errorf("replay %s: %w", filepath.Base(path), err)
		}
		r.Files++
	}
	if r.Files > 0 {
		if err := syncDir(s.dir); err != nil {
			return r, fmt.Errorf("replay the decision log spool: fsync %s: %w", s.dir, err)
		}
	}
	return r, nil
}

// readSpoolFile reads the logs of one spool file.
func readSpoolFile(path string) ([]DecisionLog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", filepath.Base(path), err)
	}
	defer f.Close()
	var logs []DecisionLog
	dec := json.NewDecoder(bufio.NewReaderSize(f, 64<<10))
	for {
		var l spooledLog
		err := dec.Decode(&l)
		if errors.Is(err, io.EOF) {
			return logs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("replay %s: log %d: %w", filepath.Base(path), len(logs)+1, err)
		}
		if l.UID == "" {
			return nil, fmt.Errorf("replay %s: log %d has no uid", filepath.Base(path), len(logs)+1)
		}
		logs = append(logs, l.log())
	}
}
