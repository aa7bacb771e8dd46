"""Who may call a view, checked before the request body is even read (a stranger learns nothing
from validation errors). Put these right under the blueprint's route decorator."""

from club_shared.auth import ROLES, require_role

#: any signed-in caller (every role); the view then works on the caller's own data only
signed_in = require_role(*ROLES)
#: staff users (staff, admin, golf_instructor as require_role allows)
staff_only = require_role("staff")
