package wire

// Several commands have a body of only StructureSize 4 and two reserved
// bytes. They share these helpers.
const simpleSize = 4

func decodeSimple(msg []byte) error {
	_, err := Body(msg, simpleSize)
	return err
}

func appendSimple(b []byte) []byte {
	b = appendU16(b, simpleSize)
	return appendU16(b, 0)
}
