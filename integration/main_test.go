package integration

import (
	"os"
	"testing"

	"sofs.io/sofs/integration/harness"
)

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m))
}
