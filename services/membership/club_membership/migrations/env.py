from club_membership.models import Base
from club_shared.migrations import run

run(Base.metadata)
