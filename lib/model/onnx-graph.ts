import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export type ElemType = 'float32' | 'int64' | 'int8';
const DATA_TYPE: Record<ElemType, number> = { float32: 1, int64: 7, int8: 3 };
/** A dimension: a fixed size or a symbolic name. */
export type Dim = number | string;
export type AttrValue = number | number[] | string | { floats: number[] } | { float: number };

/** Where an initializer's bytes live in the external weights file. */
export interface ExternalRef {
  readonly offset: number;
  readonly length: number;
  readonly dims: readonly number[];
  /** Element type (default float32). */
  readonly type?: 'float32' | 'int8';
}

/**
 * A small typed builder of ONNX graphs. Weights are referenced from an external data file
 * (ONNX's 2 GiB protobuf cap), small constants are stored inline.
 */
export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly inits: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly constCache = new Map<string, string>();
  private readonly externalNames = new Set<string>();
  private counter = 0;

  constructor(
    readonly name: string,
    private readonly externalFile: string,
  ) {}

  input(name: string, type: ElemType, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  output(value: string, name: string, type: ElemType, dims: readonly Dim[]): void {
    if (value !== name) this.node('Identity', [value], {}, [name]);
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** An initializer stored in the external weights file (added once per name). */
  external(name: string, ref: ExternalRef): string {
    if (this.externalNames.has(name)) return name;
    this.externalNames.add(name);
    this.inits.push({
      name,
      dataType: DATA_TYPE[ref.type ?? 'float32'],
      dims: [...ref.dims],
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: this.externalFile },
        { key: 'offset', value: String(ref.offset) },
        { key: 'length', value: String(ref.length) },
      ],
    });
    return name;
  }

  /** An inline int64 constant (deduplicated). */
  int64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `i64:${dims.join('x')}:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = `const_${this.counter++}`;
    const raw = Buffer.alloc(values.length * 8);
    values.forEach((v, i) => raw.writeBigInt64LE(BigInt(v), i * 8));
    this.inits.push({ name, dataType: DATA_TYPE.int64, dims: [...dims], rawData: raw });
    this.constCache.set(key, name);
    return name;
  }

  /** An inline float32 constant (deduplicated). */
  float(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `f32:${dims.join('x')}:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = `const_${this.counter++}`;
    const raw = Buffer.alloc(values.length * 4);
    values.forEach((v, i) => raw.writeFloatLE(v, i * 4));
    this.inits.push({ name, dataType: DATA_TYPE.float32, dims: [...dims], rawData: raw });
    this.constCache.set(key, name);
    return name;
  }

  /** A number not used in any name yet (for output names chosen by the caller). */
  fresh(): number {
    return this.counter++;
  }

  /** Adds a node; returns its output names (fresh ones unless given). */
  node(
    op: string,
    inputs: readonly string[],
    attrs: Record<string, AttrValue> = {},
    outputs?: readonly string[],
    domain = '',
  ): string[] {
    const outs = outputs ? [...outputs] : [`${op.toLowerCase()}_${this.counter++}`];
    this.nodes.push({
      opType: op,
      domain,
      input: [...inputs],
      output: outs,
      name: `${op}_${this.counter++}`,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  /** Single-output convenience. */
  op(op: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}): string {
    return this.node(op, inputs, attrs)[0]!;
  }

  encode(opset = 17): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'simulstream',
      opsetImport: [
        { domain: '', version: opset },
        { domain: 'com.microsoft', version: 1 },
      ],
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.inits,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, type: ElemType, dims: readonly Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DATA_TYPE[type],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return { name, type: T.INT, i: v };
  if (typeof v === 'string') return { name, type: T.STRING, s: Buffer.from(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('floats' in v) return { name, type: T.FLOATS, floats: v.floats };
  return { name, type: T.FLOAT, f: v.float };
}
