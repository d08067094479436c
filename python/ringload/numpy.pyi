import os
from typing import Dict, Union

import numpy as np

def load_file(filename: Union[str, os.PathLike]) -> Dict[str, np.ndarray]: ...
