"""Legacy converters: Caffe2 pickles and MiniDBs, torchvision ``.pth`` files, ONNX export (``zoo-convert``).

Pickles are read only through the restricted unpickler in :mod:`zoo.convert.pickle_io`.
"""
from zoo.convert.blobmap import BlobMappingError, blob_name_map, infer_arch
from zoo.convert.inspection import inspect_file
from zoo.convert.minidb import MinidbError, NotACheckpointError, read_minidb, write_minidb
from zoo.convert.onnx_export import OnnxMismatchError, to_onnx
from zoo.convert.pickle_io import PickleFormatError, UnsafePickleError, load_pickle, save_pickle
from zoo.convert.pipelines import (blobs_to_model, checkpoint_blobs, minidb_to_pickle, minidb_to_safetensors,
                                   model_to_blobs, pickle_to_safetensors, safetensors_to_minidb,
                                   safetensors_to_pickle, torchvision_to_safetensors)

__all__ = ["BlobMappingError", "MinidbError", "NotACheckpointError", "OnnxMismatchError", "PickleFormatError",
           "UnsafePickleError", "blob_name_map", "blobs_to_model", "checkpoint_blobs", "infer_arch", "inspect_file",
           "load_pickle", "minidb_to_pickle", "minidb_to_safetensors", "model_to_blobs", "pickle_to_safetensors",
           "read_minidb", "safetensors_to_minidb", "safetensors_to_pickle", "save_pickle", "to_onnx",
           "torchvision_to_safetensors", "write_minidb"]
