// InnerModelList.swift — the inner-model plugins the lab registers: one per folder under Plugins/.
//
// A plugin is registered by three lines: its folder name in Package.swift's `innerModelPlugins` line (the
// target), its `import` here and its type in the list below. `lab plugin new NAME` writes all three and
// `lab plugin remove NAME` deletes them; by hand, keep one import and one `Module.Type.self` line per
// plugin. Tests/LabCLITests/PluginRegistrationTests.swift checks that Plugins/, Package.swift and this
// list agree.
import DeltaNet
import GLA
import GatedDeltaNet
import LaCT
import Layers
import Momentum
import NadarayaWatson
import TTTLinear
import TTTMLP
import Titans

/// Every inner-model plugin, written `Folder.Type.self` (the module is the plugin's folder under
/// `Plugins/`). ``InnerModelRegistry/all`` orders them for display.
let innerModelList: [InnerModel.Type] = [
    DeltaNet.DeltaNetInner.self,
    GLA.GLAInner.self,
    GatedDeltaNet.GatedDeltaNetInner.self,
    LaCT.LaCTInner.self,
    Momentum.MomentumInner.self,
    NadarayaWatson.NadarayaWatsonInner.self,
    TTTLinear.LinearInner.self,
    TTTMLP.MLPInner.self,
    Titans.TitansInner.self,
]
