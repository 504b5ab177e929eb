package csv_test

import (
	"testing"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/csv/csvtest"
)

func TestMemoryLockTable(t *testing.T) {
	csvtest.TestLockTable(t, func(*testing.T) csv.LockTable { return csv.NewMemoryLockTable() })
}
