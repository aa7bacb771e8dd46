from club_integrations.models import Base
from club_shared.migrations import run

run(Base.metadata)
