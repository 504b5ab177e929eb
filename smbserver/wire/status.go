package wire

import "fmt"

// Status is an NTSTATUS value ([MS-ERREF] 2.3).
type Status uint32

// NTSTATUS values used by the server.
const (
	StatusSuccess                     Status = 0x00000000
	StatusPending                     Status = 0x00000103
	StatusNotifyCleanup               Status = 0x0000010B
	StatusNotifyEnumDir               Status = 0x0000010C
	StatusBufferOverflow              Status = 0x80000005
	StatusNoMoreFiles                 Status = 0x80000006
	StatusNoMoreEAs                   Status = 0x80000012
	StatusInvalidEAName               Status = 0x80000013
	StatusEAListInconsistent          Status = 0x80000014
	StatusStoppedOnSymlink            Status = 0x8000002D
	StatusUnsuccessful                Status = 0xC0000001
	StatusNotImplemented              Status = 0xC0000002
	StatusInvalidInfoClass            Status = 0xC0000003
	StatusInfoLengthMismatch          Status = 0xC0000004
	StatusInvalidHandle               Status = 0xC0000008
	StatusInvalidParameter            Status = 0xC000000D
	StatusNoSuchDevice                Status = 0xC000000E
	StatusNoSuchFile                  Status = 0xC000000F
	StatusInvalidDeviceRequest        Status = 0xC0000010
	StatusEndOfFile                   Status = 0xC0000011
	StatusMoreProcessingRequired      Status = 0xC0000016
	StatusNoMemory                    Status = 0xC0000017
	StatusAccessDenied                Status = 0xC0000022
	StatusBufferTooSmall              Status = 0xC0000023
	StatusObjectTypeMismatch          Status = 0xC0000024
	StatusObjectNameInvalid           Status = 0xC0000033
	StatusObjectNameNotFound          Status = 0xC0000034
	StatusObjectNameCollision         Status = 0xC0000035
	StatusObjectPathInvalid           Status = 0xC0000039
	StatusObjectPathNotFound          Status = 0xC000003A
	StatusObjectPathSyntaxBad         Status = 0xC000003B
	StatusSharingViolation            Status = 0xC0000043
	StatusEAsNotSupported             Status = 0xC000004F
	StatusEATooLarge                  Status = 0xC0000050
	StatusNonexistentEAEntry          Status = 0xC0000051
	StatusNoEAsOnFile                 Status = 0xC0000052
	StatusDeletePending               Status = 0xC0000056
	StatusPrivilegeNotHeld            Status = 0xC0000061
	StatusWrongPassword               Status = 0xC000006A
	StatusLogonFailure                Status = 0xC000006D
	StatusAccountRestriction          Status = 0xC000006E
	StatusPasswordExpired             Status = 0xC0000071
	StatusAccountDisabled             Status = 0xC0000072
	StatusDiskFull                    Status = 0xC000007F
	StatusRangeNotLocked              Status = 0xC000007E
	StatusFileLockConflict            Status = 0xC0000054
	StatusLockNotGranted              Status = 0xC0000055
	StatusInvalidLockRange            Status = 0xC00001A1
	StatusInsufficientResources       Status = 0xC000009A
	StatusFileIsADirectory            Status = 0xC00000BA
	StatusNotSupported                Status = 0xC00000BB
	StatusNetworkNameDeleted          Status = 0xC00000C9
	StatusBadNetworkName              Status = 0xC00000CC
	StatusRequestNotAccepted          Status = 0xC00000D0
	StatusInternalError               Status = 0xC00000E5
	StatusUnexpectedIOError           Status = 0xC00000E9
	StatusDirectoryNotEmpty           Status = 0xC0000101
	StatusNotADirectory               Status = 0xC0000103
	StatusCancelled                   Status = 0xC0000120
	StatusFileClosed                  Status = 0xC0000128
	StatusInvalidLevel                Status = 0xC0000148
	StatusPipeBroken                  Status = 0xC000014B
	StatusInvalidDeviceState          Status = 0xC0000184
	StatusIOTimeout                   Status = 0xC00000B5
	StatusPipeNotAvailable            Status = 0xC00000AC
	StatusInvalidPipeState            Status = 0xC00000AD
	StatusPipeBusy                    Status = 0xC00000AE
	StatusPipeDisconnected            Status = 0xC00000B0
	StatusPipeClosing                 Status = 0xC00000B1
	StatusPipeEmpty                   Status = 0xC00000D9
	StatusUserSessionDeleted          Status = 0xC0000203
	StatusNetworkSessionExpired       Status = 0xC000035C
	StatusNotFound                    Status = 0xC0000225
	StatusFileNotAvailable            Status = 0xC0000467
	StatusRequestOutOfSequence        Status = 0xC000042A
	StatusCannotDelete                Status = 0xC0000121
	StatusFileRenamed                 Status = 0xC00000D5
	StatusMediaWriteProtected         Status = 0xC00000A2
	StatusBadImpersonationLevel       Status = 0xC00000A5
	StatusObjectNameExists            Status = 0x40000000
	StatusNotSameDevice               Status = 0xC00000D4
	StatusFileSystemLimitation        Status = 0xC0000427
	StatusDuplicateObjectID           Status = 0xC000022A
	StatusObjectIDNotFound            Status = 0xC00002F0
	StatusInvalidSecurityDescr        Status = 0xC0000079
	StatusNoSuchUser                  Status = 0xC0000064
	StatusUserMappedFile              Status = 0xC0000243
	StatusIllegalCharacter            Status = 0xC0000161
	StatusNameTooLong                 Status = 0xC0000106
	StatusTooManyOpenedFiles          Status = 0xC000011F
	StatusRequestAborted              Status = 0xC0000240
	StatusConnectionDisconnected      Status = 0xC000020C
	StatusConnectionReset             Status = 0xC000020D
	StatusDataError                   Status = 0xC000003E
	StatusServerUnavailable           Status = 0xC0000466
	StatusHashNotSupported            Status = 0xC000A100
	StatusHashNotPresent              Status = 0xC000A101
	StatusNoSuchLogonSession          Status = 0xC000005F
	StatusFSDriverRequired            Status = 0xC000019C
	StatusNotAReparsePoint            Status = 0xC0000275
	StatusInvalidNetworkResponse      Status = 0xC00000C3
	StatusInvalidViewSize             Status = 0xC000001F
	StatusOffloadReadFileNotSupported Status = 0xC000A2A1
	StatusDirectoryIsAReparsePoint    Status = 0xC0000281
)

func (s Status) Error() string { return fmt.Sprintf("NTSTATUS %#08x", uint32(s)) }

// IsError reports whether s has severity error (top two bits 11).
func (s Status) IsError() bool { return uint32(s)>>30 == 3 }

// NTSTATUS values added with the command codecs.
const (
	StatusInvalidOplockProtocol            Status = 0xC00000E3
	StatusSMBNoPreauthIntegrityHashOverlap Status = 0xC05D0000
	StatusSMBBadClusterDialect             Status = 0xC05D0001
)
