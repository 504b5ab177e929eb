// Package container tests the container set in deploy/: it builds the image
// with deploy/build-image.sh, brings the compose files up with
// docker-compose under a unique project name on a private network, and
// drives SMB through the nodes' ports published on 127.0.0.1.
//
// The tests need a usable Docker engine and docker-compose. Without them
// they skip, except with CI=true, where they fail. SOFS_TEST_IMAGE names a
// prebuilt image to use instead of building one (it is not removed).
package container
