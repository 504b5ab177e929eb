package fscc

// File attributes ([MS-FSCC] 2.6).
const (
	FileAttributeReadonly           uint32 = 0x00000001
	FileAttributeHidden             uint32 = 0x00000002
	FileAttributeSystem             uint32 = 0x00000004
	FileAttributeDirectory          uint32 = 0x00000010
	FileAttributeArchive            uint32 = 0x00000020
	FileAttributeNormal             uint32 = 0x00000080
	FileAttributeTemporary          uint32 = 0x00000100
	FileAttributeSparseFile         uint32 = 0x00000200
	FileAttributeReparsePoint       uint32 = 0x00000400
	FileAttributeCompressed         uint32 = 0x00000800
	FileAttributeOffline            uint32 = 0x00001000
	FileAttributeNotContentIndexed  uint32 = 0x00002000
	FileAttributeEncrypted          uint32 = 0x00004000
	FileAttributeIntegrityStream    uint32 = 0x00008000
	FileAttributeNoScrubData        uint32 = 0x00020000
	FileAttributeRecallOnOpen       uint32 = 0x00040000
	FileAttributePinned             uint32 = 0x00080000
	FileAttributeUnpinned           uint32 = 0x00100000
	FileAttributeRecallOnDataAccess uint32 = 0x00400000
)

// Access mask bits for files and directories ([MS-SMB2] 2.2.13.1.1 and
// 2.2.13.1.2, [MS-DTYP] 2.4.3).
const (
	FileReadData         uint32 = 0x00000001
	FileListDirectory    uint32 = 0x00000001
	FileWriteData        uint32 = 0x00000002
	FileAddFile          uint32 = 0x00000002
	FileAppendData       uint32 = 0x00000004
	FileAddSubdirectory  uint32 = 0x00000004
	FileReadEA           uint32 = 0x00000008
	FileWriteEA          uint32 = 0x00000010
	FileExecute          uint32 = 0x00000020
	FileTraverse         uint32 = 0x00000020
	FileDeleteChild      uint32 = 0x00000040
	FileReadAttributes   uint32 = 0x00000080
	FileWriteAttributes  uint32 = 0x00000100
	Delete               uint32 = 0x00010000
	ReadControl          uint32 = 0x00020000
	WriteDAC             uint32 = 0x00040000
	WriteOwner           uint32 = 0x00080000
	Synchronize          uint32 = 0x00100000
	AccessSystemSecurity uint32 = 0x01000000
	MaximumAllowed       uint32 = 0x02000000
	GenericAll           uint32 = 0x10000000
	GenericExecute       uint32 = 0x20000000
	GenericWrite         uint32 = 0x40000000
	GenericRead          uint32 = 0x80000000

	// FileAllAccess is every specific and standard right a file open
	// can hold (0x1F01FF), what GENERIC_ALL maps to.
	FileAllAccess uint32 = 0x001F01FF
)

// File system attribute flags reported by FileFsAttributeInformation
// ([MS-FSCC] 2.5.1).
const (
	FileCaseSensitiveSearch        uint32 = 0x00000001
	FileCasePreservedNames         uint32 = 0x00000002
	FileUnicodeOnDisk              uint32 = 0x00000004
	FilePersistentACLs             uint32 = 0x00000008
	FileFileCompression            uint32 = 0x00000010
	FileVolumeQuotas               uint32 = 0x00000020
	FileSupportsSparseFiles        uint32 = 0x00000040
	FileSupportsReparsePoints      uint32 = 0x00000080
	FileSupportsRemoteStorage      uint32 = 0x00000100
	FileReturnsCleanupResultInfo   uint32 = 0x00000200
	FileSupportsPosixUnlinkRename  uint32 = 0x00000400
	FileVolumeIsCompressed         uint32 = 0x00008000
	FileSupportsObjectIDs          uint32 = 0x00010000
	FileSupportsEncryption         uint32 = 0x00020000
	FileNamedStreams               uint32 = 0x00040000
	FileReadOnlyVolume             uint32 = 0x00080000
	FileSequentialWriteOnce        uint32 = 0x00100000
	FileSupportsTransactions       uint32 = 0x00200000
	FileSupportsHardLinks          uint32 = 0x00400000
	FileSupportsExtendedAttributes uint32 = 0x00800000
	FileSupportsOpenByFileID       uint32 = 0x01000000
	FileSupportsUSNJournal         uint32 = 0x02000000
	FileSupportsIntegrityStreams   uint32 = 0x04000000
	FileSupportsBlockRefcounting   uint32 = 0x08000000
	FileSupportsSparseVDL          uint32 = 0x10000000
	FileDAXVolume                  uint32 = 0x20000000
	FileSupportsGhosting           uint32 = 0x40000000
)

// FileRenameInformationEx flags ([MS-FSCC] FILE_RENAME_INFORMATION_TYPE_2,
// [MS-SMB2] 2.2.39).
const (
	RenameReplaceIfExists                   uint32 = 0x00000001
	RenamePosixSemantics                    uint32 = 0x00000002
	RenameSuppressPinStateInheritance       uint32 = 0x00000004
	RenameSuppressStorageReserveInheritance uint32 = 0x00000008
	RenameNoIncreaseAvailableSpace          uint32 = 0x00000010
	RenameNoDecreaseAvailableSpace          uint32 = 0x00000020
	RenameIgnoreReadonly                    uint32 = 0x00000040
	RenameForceResizeTargetSR               uint32 = 0x00000080
	RenameForceResizeSourceSR               uint32 = 0x00000100
)

// FileDispositionInformationEx flags ([MS-FSCC] 2.4,
// FileDispositionInformationEx).
const (
	DispositionDelete                 uint32 = 0x00000001
	DispositionPosixSemantics         uint32 = 0x00000002
	DispositionForceImageSectionCheck uint32 = 0x00000004
	DispositionOnClose                uint32 = 0x00000008
	DispositionIgnoreReadonly         uint32 = 0x00000010
)

// FileModeInformation bits ([MS-FSCC] 2.4, FileModeInformation).
const (
	FileWriteThrough          uint32 = 0x00000002
	FileSequentialOnly        uint32 = 0x00000004
	FileNoIntermediateBuffer  uint32 = 0x00000008
	FileSynchronousIOAlert    uint32 = 0x00000010
	FileSynchronousIONonalert uint32 = 0x00000020
	FileDeleteOnClose         uint32 = 0x00001000
)

// Device values for FileFsDeviceInformation ([MS-FSCC] 2.5.10).
const (
	FileDeviceDisk       uint32 = 0x00000007
	FileRemovableMedia   uint32 = 0x00000001
	FileReadOnlyDevice   uint32 = 0x00000002
	FileRemoteDevice     uint32 = 0x00000010
	FileDeviceIsMounted  uint32 = 0x00000020
	FileDeviceSecureOpen uint32 = 0x00000100
)

// FileNeedEA is the FILE_FULL_EA_INFORMATION flag marking an EA the file
// cannot be understood without ([MS-FSCC] 2.4.15).
const FileNeedEA uint8 = 0x80

// IOReparseTagSymlink and IOReparseTagMountPoint are the reparse tags a
// POSIX back end can report ([MS-FSCC] 2.1.2.1).
const (
	IOReparseTagMountPoint uint32 = 0xA0000003
	IOReparseTagSymlink    uint32 = 0xA000000C
)
