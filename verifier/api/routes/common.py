"""Path parameters shared by the routers."""

from typing import Annotated

from fastapi import Path

AccountId = Annotated[int, Path(ge=0, lt=1 << 63, description="the account id the service assigned")]
EpochId = Annotated[int, Path(ge=0, lt=1 << 63)]
ItemId = Annotated[int, Path(ge=0, lt=1 << 63)]
