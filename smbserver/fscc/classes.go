package fscc

// File information classes ([MS-FSCC] 2.4). The values are the Level
// column of the table in 2.4; a few LOCAL-only classes are listed so that
// the server can tell "defined but not usable over SMB" from "undefined".
const (
	FileDirectoryInformation              uint8 = 1
	FileFullDirectoryInformation          uint8 = 2
	FileBothDirectoryInformation          uint8 = 3
	FileBasicInformation                  uint8 = 4
	FileStandardInformation               uint8 = 5
	FileInternalInformation               uint8 = 6
	FileEaInformation                     uint8 = 7
	FileAccessInformation                 uint8 = 8
	FileNameInformation                   uint8 = 9
	FileRenameInformation                 uint8 = 10
	FileLinkInformation                   uint8 = 11
	FileNamesInformation                  uint8 = 12
	FileDispositionInformation            uint8 = 13
	FilePositionInformation               uint8 = 14
	FileFullEaInformation                 uint8 = 15
	FileModeInformation                   uint8 = 16
	FileAlignmentInformation              uint8 = 17
	FileAllInformation                    uint8 = 18
	FileAllocationInformation             uint8 = 19
	FileEndOfFileInformation              uint8 = 20
	FileAlternateNameInformation          uint8 = 21
	FileStreamInformation                 uint8 = 22
	FilePipeInformation                   uint8 = 23
	FilePipeLocalInformation              uint8 = 24
	FilePipeRemoteInformation             uint8 = 25
	FileMailslotQueryInformation          uint8 = 26
	FileMailslotSetInformation            uint8 = 27
	FileCompressionInformation            uint8 = 28
	FileObjectIDInformation               uint8 = 29
	FileMoveClusterInformation            uint8 = 31
	FileQuotaInformation                  uint8 = 32
	FileReparsePointInformation           uint8 = 33
	FileNetworkOpenInformation            uint8 = 34
	FileAttributeTagInformation           uint8 = 35
	FileTrackingInformation               uint8 = 36
	FileIdBothDirectoryInformation        uint8 = 37
	FileIdFullDirectoryInformation        uint8 = 38
	FileValidDataLengthInformation        uint8 = 39
	FileShortNameInformation              uint8 = 40
	FileSfioReserveInformation            uint8 = 44
	FileSfioVolumeInformation             uint8 = 45
	FileHardLinkInformation               uint8 = 46
	FileNormalizedNameInformation         uint8 = 48
	FileIdGlobalTxDirectoryInformation    uint8 = 50
	FileStandardLinkInformation           uint8 = 54
	FileIdInformation                     uint8 = 59
	FileIdExtdDirectoryInformation        uint8 = 60
	FileDispositionInformationEx          uint8 = 64
	FileRenameInformationEx               uint8 = 65
	FileId64ExtdDirectoryInformation      uint8 = 78
	FileId64ExtdBothDirectoryInformation  uint8 = 79
	FileIdAllExtdDirectoryInformation     uint8 = 80
	FileIdAllExtdBothDirectoryInformation uint8 = 81
)

// File system information classes ([MS-FSCC] 2.5).
const (
	FileFsVolumeInformation      uint8 = 1
	FileFsLabelInformation       uint8 = 2
	FileFsSizeInformation        uint8 = 3
	FileFsDeviceInformation      uint8 = 4
	FileFsAttributeInformation   uint8 = 5
	FileFsControlInformation     uint8 = 6
	FileFsFullSizeInformation    uint8 = 7
	FileFsObjectIDInformation    uint8 = 8
	FileFsDriverPathInformation  uint8 = 9
	FileFsVolumeFlagsInformation uint8 = 10
	FileFsSectorSizeInformation  uint8 = 11
)

// ClassUse says how [MS-FSCC] 2.4 (Uses column) allows a file information
// class to be used.
type ClassUse uint8

// ClassUse bits.
const (
	UseQuery ClassUse = 1 << iota // the class can be queried
	UseSet                        // the class can be set
	UseLocal                      // the class is local to the object store, never sent
)

// fileClass describes one file information class: its uses and the
// fixed part a buffer must hold.
type fileClass struct {
	use ClassUse
	// min is the smallest buffer the class accepts. For queryable
	// classes it is the query minimum that Windows enforces (checked by
	// smbtorture smb2.getinfo.qfile_buffercheck: the C sizeof of the
	// structure, trailing WCHAR[1] and padding included); for set-only
	// classes it is the fixed part of the set structure; for directory
	// classes it is the fixed part of one entry.
	min int
}

// fileClasses is the [MS-FSCC] 2.4 table.
var fileClasses = map[uint8]fileClass{
	FileDirectoryInformation:              {UseQuery, 64},
	FileFullDirectoryInformation:          {UseQuery, 68},
	FileBothDirectoryInformation:          {UseQuery, 94},
	FileBasicInformation:                  {UseQuery | UseSet, 40},
	FileStandardInformation:               {UseQuery, 24},
	FileInternalInformation:               {UseQuery, 8},
	FileEaInformation:                     {UseQuery, 4},
	FileAccessInformation:                 {UseQuery, 4},
	FileNameInformation:                   {UseLocal, 8},
	FileRenameInformation:                 {UseSet, 20},
	FileLinkInformation:                   {UseSet, 20},
	FileNamesInformation:                  {UseQuery, 12},
	FileDispositionInformation:            {UseSet, 1},
	FilePositionInformation:               {UseQuery | UseSet, 8},
	FileFullEaInformation:                 {UseQuery | UseSet, 12},
	FileModeInformation:                   {UseQuery | UseSet, 4},
	FileAlignmentInformation:              {UseQuery, 4},
	FileAllInformation:                    {UseQuery, 104},
	FileAllocationInformation:             {UseSet, 8},
	FileEndOfFileInformation:              {UseSet, 8},
	FileAlternateNameInformation:          {UseQuery, 8},
	FileStreamInformation:                 {UseQuery, 32},
	FilePipeInformation:                   {UseQuery | UseSet, 8},
	FilePipeLocalInformation:              {UseQuery, 40},
	FilePipeRemoteInformation:             {UseQuery, 16},
	FileMailslotQueryInformation:          {UseLocal, 0},
	FileMailslotSetInformation:            {UseLocal, 0},
	FileCompressionInformation:            {UseQuery, 16},
	FileObjectIDInformation:               {UseLocal, 0},
	FileMoveClusterInformation:            {0, 0},
	FileQuotaInformation:                  {UseQuery | UseSet, 0},
	FileReparsePointInformation:           {UseLocal, 0},
	FileNetworkOpenInformation:            {UseQuery, 56},
	FileAttributeTagInformation:           {UseQuery, 8},
	FileTrackingInformation:               {UseLocal, 0},
	FileIdBothDirectoryInformation:        {UseQuery, 104},
	FileIdFullDirectoryInformation:        {UseQuery, 80},
	FileValidDataLengthInformation:        {UseSet, 8},
	FileShortNameInformation:              {UseSet, 4},
	FileSfioReserveInformation:            {UseLocal, 0},
	FileSfioVolumeInformation:             {0, 0},
	FileHardLinkInformation:               {UseLocal, 0},
	FileNormalizedNameInformation:         {UseQuery, 8},
	FileIdGlobalTxDirectoryInformation:    {UseLocal, 0},
	FileStandardLinkInformation:           {UseLocal, 0},
	FileIdInformation:                     {UseQuery, 24},
	FileIdExtdDirectoryInformation:        {UseQuery, 88},
	FileDispositionInformationEx:          {UseSet, 4},
	FileRenameInformationEx:               {UseSet, 20},
	FileId64ExtdDirectoryInformation:      {UseQuery, 80},
	FileId64ExtdBothDirectoryInformation:  {UseQuery, 106},
	FileIdAllExtdDirectoryInformation:     {UseQuery, 96},
	FileIdAllExtdBothDirectoryInformation: {UseQuery, 122},
}

// FileClassUse reports how [MS-FSCC] 2.4 lets class be used; ok is false
// for a class the specification does not define. [MS-SMB2] 3.3.5.21.1
// needs the distinction: setting a defined class without UseSet is
// STATUS_INVALID_INFO_CLASS, setting a settable class the server does
// not implement is STATUS_NOT_SUPPORTED.
func FileClassUse(class uint8) (use ClassUse, ok bool) {
	c, ok := fileClasses[class]
	return c.use, ok
}

// MinQuerySize returns the smallest output buffer a query of class
// accepts; a smaller OutputBufferLength is answered with
// STATUS_INFO_LENGTH_MISMATCH, while a buffer that holds the fixed part
// but not the variable part gets truncated data and
// STATUS_BUFFER_OVERFLOW ([MS-SMB2] 3.3.5.20.1, [MS-FSA] 2.1.5.12). The
// sizes are those Windows enforces (smbtorture
// smb2.getinfo.qfile_buffercheck). ok reports whether [MS-FSCC] defines
// the class at all; for set-only classes the size is that of the set
// structure's fixed part, and for directory classes that of one entry.
func MinQuerySize(class uint8) (int, bool) {
	c, ok := fileClasses[class]
	return c.min, ok
}

// MinSetSize returns the smallest SET_INFO input buffer for a settable
// class; ok is false for classes without UseSet.
func MinSetSize(class uint8) (int, bool) {
	c, ok := fileClasses[class]
	if !ok || c.use&UseSet == 0 {
		return 0, false
	}
	switch class {
	case FileFullEaInformation:
		// One entry with a one-character name and no value, before
		// padding ([MS-FSCC] 2.4.15).
		return 10, true
	case FileQuotaInformation:
		return 0, true
	}
	return c.min, true
}

// fsClasses maps each [MS-FSCC] 2.5 class to the query minimum Windows
// enforces (smbtorture smb2.getinfo.qfs_buffercheck); 0 marks classes
// that are defined but not queryable over SMB2 ([MS-SMB2] 2.2.37 lists
// only the others).
var fsClasses = map[uint8]int{
	FileFsVolumeInformation:      24,
	FileFsLabelInformation:       0,
	FileFsSizeInformation:        24,
	FileFsDeviceInformation:      8,
	FileFsAttributeInformation:   16,
	FileFsControlInformation:     48,
	FileFsFullSizeInformation:    32,
	FileFsObjectIDInformation:    64,
	FileFsDriverPathInformation:  0,
	FileFsVolumeFlagsInformation: 0,
	FileFsSectorSizeInformation:  28,
}

// MinFSQuerySize returns the smallest output buffer a file system query
// of class accepts ([MS-SMB2] 3.3.5.20.2); ok is false for classes
// [MS-FSCC] 2.5 does not define.
func MinFSQuerySize(class uint8) (int, bool) {
	n, ok := fsClasses[class]
	return n, ok
}
