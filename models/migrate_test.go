package models_test

import (
	"context"
	"regexp"
	"slices"
	"testing"

	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

func TestMigrationsUpDownUp(t *testing.T) {
	for _, dialect := range dbtest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			db, m := emptyMigrator(t, dialect)
			st, err := m.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n, err := m.Up(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(st) {
				t.Errorf("Up() applied %d migrations, want %d", n, len(st))
			}
			if got := countPermissions(t, db); got != 20 {
				t.Errorf("built-in permissions after Up = %d, want 20", got)
			}
			if err := m.DownTo(ctx, 0); err != nil {
				t.Fatal(err)
			}
			if v, err := m.Version(ctx); err != nil || v != 0 {
				t.Errorf("Version() after DownTo(0) = %d, %v, want 0, nil", v, err)
			}
			for _, model := range models.All() {
				if db.Gorm.Migrator().HasTable(model) {
					t.Errorf("table of %T still exists after DownTo(0)", model)
				}
			}
			if _, err := m.Up(ctx); err != nil {
				t.Fatalf("Up() after DownTo(0): %v", err)
			}
			if got := countPermissions(t, db); got != 20 {
				t.Errorf("built-in permissions after second Up = %d, want 20", got)
			}
			st, err = m.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range st {
				if !s.Applied {
					t.Errorf("migration %d (%s) not applied after Up", s.Version, s.Name)
				}
			}
		})
	}
}

// emptyMigrator returns a database without any migration applied, and its
// migrator.
func emptyMigrator(t *testing.T, dialect string) (*models.DB, *models.Migrator) {
	t.Helper()
	db := dbtest.OpenEmpty(t, dialect)
	m, err := models.NewMigrator(db)
	if err != nil {
		t.Fatal(err)
	}
	return db, m
}

func countPermissions(t *testing.T, db *models.DB) int64 {
	t.Helper()
	var n int64
	if err := db.Gorm.Model(&models.Permission{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestModelsMatchSchema is the drift test: every model's table exists after
// the migrations with exactly the model's columns, and every migrated table
// has a model.
func TestModelsMatchSchema(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		mig := db.Gorm.Migrator()
		tables := map[string]bool{}
		for _, model := range models.All() {
			stmt := &gorm.Statement{DB: db.Gorm}
			if err := stmt.Parse(model); err != nil {
				t.Fatal(err)
			}
			tables[stmt.Schema.Table] = true
			types, err := mig.ColumnTypes(model)
			if err != nil {
				t.Fatalf("ColumnTypes(%s): %v", stmt.Schema.Table, err)
			}
			var got, want []string
			for _, c := range types {
				got = append(got, c.Name())
			}
			for _, f := range stmt.Schema.Fields {
				if f.DBName != "" {
					want = append(want, f.DBName)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("table %s columns = %v, model %T wants %v", stmt.Schema.Table, got, model, want)
			}
			checkNullability(t, stmt.Schema, types)
		}
		names, err := mig.GetTables()
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if name == "goose_db_version" || name == "sqlite_sequence" || decisionLogPartition.MatchString(name) {
				continue
			}
			if !tables[name] {
				t.Errorf("table %s has no model", name)
			}
		}
	})
}

// decisionLogPartition matches the partitions of decision_logs on
// PostgreSQL (migration 00010), whose columns are decision_logs' own.
var decisionLogPartition = regexp.MustCompile(`^decision_logs_p[0-9]{8}$`)

// checkNullability holds pointer fields to nullable columns and the rest
// to NOT NULL ones.
func checkNullability(t *testing.T, s *schema.Schema, types []gorm.ColumnType) {
	t.Helper()
	for _, c := range types {
		f := s.LookUpField(c.Name())
		nullable, ok := c.Nullable()
		if f == nil || !ok || f.PrimaryKey {
			continue
		}
		wantNullable := f.FieldType.Kind().String() == "ptr"
		if nullable != wantNullable {
			t.Errorf("%s.%s nullable = %v, model field %s wants %v", s.Table, c.Name(), nullable, f.Name, wantNullable)
		}
	}
}
