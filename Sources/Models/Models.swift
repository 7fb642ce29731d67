// Models.swift — language models over any SequenceLayer, training and data (issue: LMs on CPU).
import Layers
import TensorCore

/// Namespace placeholder until the language-model code lands.
public enum ModelsModule {}
