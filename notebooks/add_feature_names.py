"""Records a model's input feature order (and class names) in its ONNX metadata, under the keys
robcert reads: `robcert.features` and `robcert.classes`, each a JSON array of names.

    python notebooks/add_feature_names.py MODEL.onnx --features amount,hour,... [--classes legit,fraud]
    python notebooks/add_feature_names.py MODEL.onnx --from-prop features   # reuse an existing prop

Only these two entries are added or replaced; every other metadata entry and the graph are kept.
"""
import argparse
import json

import onnx


def set_prop(model, key, value):
    for p in model.metadata_props:
        if p.key == key:
            p.value = value
            return
    entry = model.metadata_props.add()
    entry.key, entry.value = key, value


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--features", help="comma-separated feature names in input order")
    ap.add_argument("--from-prop", help="read the comma-separated names from this metadata key")
    ap.add_argument("--classes", help="comma-separated class names in output order")
    args = ap.parse_args()
    for path in args.models:
        m = onnx.load(path)
        props = {p.key: p.value for p in m.metadata_props}
        names = args.features or (props.get(args.from_prop) if args.from_prop else None)
        if not names:
            raise SystemExit(f"{path}: give --features or --from-prop")
        set_prop(m, "robcert.features", json.dumps(names.split(",")))
        classes = args.classes or props.get("classes")
        if classes:
            set_prop(m, "robcert.classes", json.dumps(classes.split(",")))
        onnx.save(m, path)
        print(f"{path}: robcert.features = {len(names.split(','))} names")


if __name__ == "__main__":
    main()
