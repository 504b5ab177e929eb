package openstate_test

import (
	"testing"

	"sofs.io/sofs/csv/csvtest"
	"sofs.io/sofs/csv/openstate"
)

func TestMemoryLockTable(t *testing.T) {
	csvtest.TestLockTable(t, func(*testing.T) openstate.LockTable { return openstate.NewMemoryLockTable() })
}
