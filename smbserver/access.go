package smbserver

// Access mask bits ([MS-SMB2] 2.2.13.1.1, [MS-DTYP] 2.4.3).
const (
	fileReadData        uint32 = 0x00000001
	fileWriteData       uint32 = 0x00000002
	fileAppendData      uint32 = 0x00000004
	fileReadEA          uint32 = 0x00000008
	fileWriteEA         uint32 = 0x00000010
	fileExecute         uint32 = 0x00000020
	fileDeleteChild     uint32 = 0x00000040
	fileReadAttributes  uint32 = 0x00000080
	fileWriteAttributes uint32 = 0x00000100
	accessDelete        uint32 = 0x00010000
	readControl         uint32 = 0x00020000
	writeDAC            uint32 = 0x00040000
	writeOwner          uint32 = 0x00080000
	synchronize         uint32 = 0x00100000
	accessSystemSec     uint32 = 0x01000000
	maximumAllowed      uint32 = 0x02000000
	genericAll          uint32 = 0x10000000
	genericExecute      uint32 = 0x20000000
	genericWrite        uint32 = 0x40000000
	genericRead         uint32 = 0x80000000

	fileGenericRead    = readControl | fileReadData | fileReadAttributes | fileReadEA | synchronize
	fileGenericWrite   = readControl | fileWriteData | fileWriteAttributes | fileWriteEA | fileAppendData | synchronize
	fileGenericExecute = readControl | fileReadAttributes | fileExecute | synchronize
	fileAllAccess      = 0x001F01FF

	// validAccessBits are the bits a client may ask for; anything else is
	// STATUS_ACCESS_DENIED per [MS-SMB2] 3.3.5.9 ("reserved bits").
	validAccessBits = 0x001F01FF | accessSystemSec | maximumAllowed | genericAll | genericExecute | genericWrite | genericRead

	writeIntent = fileWriteData | fileAppendData | fileWriteEA | fileWriteAttributes | accessDelete | writeDAC | writeOwner | fileDeleteChild
)

// mapGeneric expands the generic rights to file rights ([MS-DTYP] 2.4.3,
// the file object generic mapping).
func mapGeneric(m uint32) uint32 {
	if m&genericRead != 0 {
		m |= fileGenericRead
	}
	if m&genericWrite != 0 {
		m |= fileGenericWrite
	}
	if m&genericExecute != 0 {
		m |= fileGenericExecute
	}
	if m&genericAll != 0 {
		m |= fileAllAccess
	}
	return m &^ (genericRead | genericWrite | genericExecute | genericAll)
}

// File attributes ([MS-FSCC] 2.6) the server interprets.
const (
	attrReadonly   uint32 = 0x00000001
	attrHidden     uint32 = 0x00000002
	attrSystem     uint32 = 0x00000004
	attrDirectory  uint32 = 0x00000010
	attrArchive    uint32 = 0x00000020
	attrNormal     uint32 = 0x00000080
	attrTemporary  uint32 = 0x00000100
	attrSparse     uint32 = 0x00000200
	attrCompressed uint32 = 0x00000800
	attrOffline    uint32 = 0x00001000
	attrNotIndexed uint32 = 0x00002000
	attrEncrypted  uint32 = 0x00004000
	attrIntegrity  uint32 = 0x00008000
	attrNoScrub    uint32 = 0x00020000

	// settableAttrs are the attributes a client may set; the rest are
	// maintained by the file system.
	settableAttrs = attrReadonly | attrHidden | attrSystem | attrArchive | attrNormal | attrTemporary | attrOffline | attrNotIndexed | attrNoScrub
	// createAttrs are the attributes a CREATE stores on a new or
	// overwritten file ([MS-FSA] 2.1.5.1.2.1: the others, such as
	// SPARSE_FILE, COMPRESSED or DIRECTORY, are accepted but not taken
	// from FileAttributes).
	createAttrs = attrReadonly | attrHidden | attrSystem | attrArchive | attrTemporary | attrOffline | attrNotIndexed
	// validAttrs are the bits a CREATE may carry: [MS-FSCC] 2.6 minus
	// VOLUME (0x8), DEVICE (0x40), INTEGRITY_STREAM (0x8000) and the
	// bits from 0x10000 up (VIRTUAL, NO_SCRUB_DATA, ...), which Windows
	// fails with STATUS_INVALID_PARAMETER.
	validAttrs = 0x00007FB7
)

// CreateOptions ([MS-SMB2] 2.2.13).
const (
	optDirectoryFile         uint32 = 0x00000001
	optWriteThrough          uint32 = 0x00000002
	optSequentialOnly        uint32 = 0x00000004
	optNoIntermediateBuffer  uint32 = 0x00000008
	optSyncIOAlert           uint32 = 0x00000010
	optSyncIONonalert        uint32 = 0x00000020
	optNonDirectoryFile      uint32 = 0x00000040
	optCreateTreeConnection  uint32 = 0x00000080
	optCompleteIfOplocked    uint32 = 0x00000100
	optNoEAKnowledge         uint32 = 0x00000200
	optRandomAccess          uint32 = 0x00000800
	optDeleteOnClose         uint32 = 0x00001000
	optOpenByFileID          uint32 = 0x00002000
	optOpenForBackupIntent   uint32 = 0x00004000
	optNoCompression         uint32 = 0x00008000
	optOpenRemoteInstance    uint32 = 0x00000400
	optOpenRequiringOplock   uint32 = 0x00010000
	optDisallowExclusive     uint32 = 0x00020000
	optReserveOpfilter       uint32 = 0x00100000
	optOpenReparsePoint      uint32 = 0x00200000
	optOpenNoRecall          uint32 = 0x00400000
	optOpenForFreeSpaceQuery uint32 = 0x00800000
)
