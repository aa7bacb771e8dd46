from club_booking.models import Base
from club_shared.migrations import run

run(Base.metadata)
