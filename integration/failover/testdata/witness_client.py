# An SMB Witness client built on python3-samba's own MS-SWN stubs and NDR
# (code no one in sofs wrote). It binds to the witness at HOST[PORT]
# directly, without the endpoint mapper, as the user in $WITNESS_USER
# (password $WITNESS_PASSWORD) with NTLM at packet integrity, as the
# witness requires.
#
# witness_client.py HOST PORT IP NAME
#   registers (v2) for the node whose address is IP under client name
#   NAME, prints "registered UUID" (the registration's context handle),
#   then waits in AsyncNotify again and again, printing one line per
#   notification message, flushed at once so the reader can time it:
#     resource IP available|unavailable|unknown
#     move IP
#     notify TYPE          (any other kind)
#   It runs until killed.
# witness_client.py unregister HOST PORT UUID
#   ends that registration (WitnessrUnRegister) and prints "unregistered",
#   as a client that goes away cleanly does.
import os
import sys

from samba import credentials, param
from samba.dcerpc import misc, witness


def connect(host, port):
    lp = param.LoadParm()
    creds = credentials.Credentials()
    creds.guess(lp)
    creds.set_username(os.environ["WITNESS_USER"])
    creds.set_password(os.environ["WITNESS_PASSWORD"])
    creds.set_kerberos_state(credentials.DONT_USE_KERBEROS)
    return witness.witness("ncacn_ip_tcp:%s[%s,sign]" % (host, port), lp, creds)


if sys.argv[1] == "unregister":
    host, port, uuid = sys.argv[2:5]
    c = connect(host, port)
    h = misc.policy_handle()
    h.handle_type = 0
    h.uuid = misc.GUID(uuid)
    c.UnRegister(h)
    print("unregistered", flush=True)
    sys.exit(0)

host, port, ip, name = sys.argv[1:5]
c = connect(host, port)
h = c.RegisterEx(witness.WITNESS_V2, "sofs", None, ip, name, 0, 3600)
print("registered", str(h.uuid), flush=True)
states = {
    witness.WITNESS_RESOURCE_STATE_AVAILABLE: "available",
    witness.WITNESS_RESOURCE_STATE_UNAVAILABLE: "unavailable",
}
while True:
    r = c.AsyncNotify(h)
    for m in r.messages:
        if r.type == witness.WITNESS_NOTIFY_RESOURCE_CHANGE:
            print("resource", m.name, states.get(m.type, "unknown"), flush=True)
        elif r.type == witness.WITNESS_NOTIFY_CLIENT_MOVE:
            for a in m.addr:
                print("move", a.ipv4, flush=True)
        else:
            print("notify", r.type, flush=True)
