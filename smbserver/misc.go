package smbserver

import (
	"errors"
	"time"

	"sofs.io/sofs/smbserver/fscc"
)

func fileTime(t time.Time) uint64 { return fscc.FileTime(t) }

func errorIs(err, target error) bool { return errors.Is(err, target) }
