"""Make the local stack's JWT key pair once, into two Compose volumes.

Runs as root in a one-shot container (fresh named volumes are root-owned), then hands the files to
the services' uid. The private key goes to its own volume, which only membership mounts: the other
services only ever verify tokens. An existing pair is kept, so tokens survive `docker compose up`
again; `docker compose down -v` forgets it.
"""

import os
import sys
from pathlib import Path

from club_shared.auth import generate_key_pair

SERVICE_UID = SERVICE_GID = 10001  # the `club` user of the service images

public_dir, private_dir = Path(sys.argv[1]), Path(sys.argv[2])
public_path, private_path = public_dir / "public.pem", private_dir / "private.pem"

if private_path.exists() and public_path.exists():
    print("jwt-keys: keeping the existing key pair")
    sys.exit(0)

private_pem, public_pem = generate_key_pair()
for path, pem, mode in ((private_path, private_pem, 0o400), (public_path, public_pem, 0o444)):
    path.write_text(pem)
    os.chown(path, SERVICE_UID, SERVICE_GID)
    path.chmod(mode)
print("jwt-keys: made a new Ed25519 key pair")
