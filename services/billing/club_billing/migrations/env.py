from club_billing.models import Base
from club_shared.migrations import run

run(Base.metadata)
