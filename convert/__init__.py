"""Legacy converters: Caffe2 pickles and MiniDBs, torchvision ``.pth`` files, ONNX export (``zoo-convert``).

Pickles are read only through the restricted unpickler in :mod:`zoo.convert.pickle_io`.
"""
from zoo._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    **dict.fromkeys(("BlobMappingError", "blob_name_map", "infer_arch"), "zoo.convert.blobmap"),
    "inspect_file": "zoo.convert.inspection",
    **dict.fromkeys(("MinidbError", "NotACheckpointError", "read_minidb", "write_minidb"), "zoo.convert.minidb"),
    **dict.fromkeys(("OnnxMismatchError", "to_onnx"), "zoo.convert.onnx_export"),
    **dict.fromkeys(("PickleFormatError", "UnsafePickleError", "load_pickle", "save_pickle"), "zoo.convert.pickle_io"),
    **dict.fromkeys(("blobs_to_model", "checkpoint_blobs", "minidb_to_pickle", "minidb_to_safetensors",
                     "model_to_blobs", "pickle_to_safetensors", "safetensors_to_minidb", "safetensors_to_pickle",
                     "torchvision_to_safetensors"), "zoo.convert.pipelines")})

__all__ = ["BlobMappingError", "MinidbError", "NotACheckpointError", "OnnxMismatchError", "PickleFormatError",
           "UnsafePickleError", "blob_name_map", "blobs_to_model", "checkpoint_blobs", "infer_arch", "inspect_file",
           "load_pickle", "minidb_to_pickle", "minidb_to_safetensors", "model_to_blobs", "pickle_to_safetensors",
           "read_minidb", "safetensors_to_minidb", "safetensors_to_pickle", "save_pickle", "to_onnx",
           "torchvision_to_safetensors", "write_minidb"]
