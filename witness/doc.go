// Package witness will implement the SMB Witness service ([MS-SWN]) and the
// quorum witness member. It is empty until the cluster work lands.
package witness
