package openstate_test

import (
	"testing"

	"sofs.io/sofs/csv/csvtest"
	"sofs.io/sofs/csv/openstate"
)

func TestMemoryHandleStore(t *testing.T) {
	csvtest.TestHandleStore(t, func(*testing.T) openstate.HandleStore { return openstate.NewMemoryHandleStore() })
}
