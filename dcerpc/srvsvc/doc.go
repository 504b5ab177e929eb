// Package srvsvc implements the server side of the Server Service Remote
// Protocol ([MS-SRVS]) operations that share browsing needs:
// NetrShareEnum (opnum 15), NetrShareGetInfo (16) and NetrServerGetInfo (21).
//
// Each message has a Marshal method and an Unmarshal function, so the same
// code can act as server (decode requests, encode responses) and as a test
// client (encode requests, decode responses). Stubs are NDR 2.0 as encoded by
// package ndr; every decoder is bounds-checked and never panics.
package srvsvc
