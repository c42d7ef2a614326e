from services.credit_blacklist.models import Base
from shared.migrate import run_env
from shared.models import KernelBase

run_env([KernelBase.metadata, Base.metadata])
