package csv_test

import (
	"testing"

	"sofs.io/sofs/csv"
	"sofs.io/sofs/csv/csvtest"
)

func TestMemoryHandleStore(t *testing.T) {
	csvtest.TestHandleStore(t, func(*testing.T) csv.HandleStore { return csv.NewMemoryHandleStore() })
}
