package csv_test

import (
	"testing"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/csv/csvtest"
)

func TestMemoryObjectTable(t *testing.T) {
	csvtest.TestObjectTable(t, func(*testing.T) csv.ObjectTable { return csv.NewMemoryObjectTable() })
}
