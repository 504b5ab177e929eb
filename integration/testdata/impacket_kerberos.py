#!/usr/bin/python3
"""impacket Kerberos interop check for the sofs integration tests.

Usage: impacket_kerberos.py NAME ADDR PORT SHARE USER REALM

Logs on to the server NAME (the host part of its SPN cifs/NAME) at ADDR
with the Kerberos tickets in KRB5CCNAME, writes a random file, lists the
share and reads the file back. Prints one JSON object with what it saw;
the Go test decides what is right.
"""
import hashlib
import io
import json
import os
import sys

from impacket.smb3structs import SMB2_DIALECT_30
from impacket.smbconnection import SMBConnection


def main():
    name, addr, port, share, user, realm = sys.argv[1:7]
    conn = SMBConnection(name, addr, sess_port=int(port),
                         preferredDialect=SMB2_DIALECT_30, timeout=60)
    conn.kerberosLogin(user, "", realm, useCache=True, kdcHost=addr)
    data = os.urandom(1 << 20)
    fname = "impacket_krb.bin"
    conn.putFile(share, fname, io.BytesIO(data).read)
    listing = sorted(f.get_longname() for f in conn.listPath(share, "*"))
    buf = io.BytesIO()
    conn.getFile(share, fname, buf.write)
    json.dump({"user": conn.getCredentials()[0], "listing": listing,
               "put": hashlib.sha256(data).hexdigest(),
               "get": hashlib.sha256(buf.getvalue()).hexdigest()}, sys.stdout)
    sys.stdout.write("\n")
    conn.logoff()


if __name__ == "__main__":
    main()
