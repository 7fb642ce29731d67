// TEMPORARY: replaced by the baseline layers when merged.
import TensorCore
public final class SelfAttention { public init(config: LayerConfig, rng: inout RNG) throws { fatalError() } }
public final class LinearAttention { public init(config: LayerConfig, rng: inout RNG) throws { fatalError() } }
public final class Mamba { public init(config: LayerConfig, rng: inout RNG) throws { fatalError() } }
