"""The built-in ensembles, each exactly as its authors rank it (see the README's "Ensembles")."""
from onnxscore.proxies.ensemble import register_ensemble

# AZ-NAS (tss_general.ipynb): sum of log(rank/N) of FLOPs and the three components, all ascending
register_ensemble("az_nas", ["flops", "az_expressivity", "az_progressivity", "az_trainability"],
                  description="AZ-NAS: sum of log(rank/N) of flops, expressivity, progressivity, trainability")
# VKDNW_single: the dense rank of (number of parameter tensors, Fisher-spectrum entropy)
register_ensemble("vkdnw_single", [("vkdnw_dim", "vkdnw_entropy")],
                  description="VKDNW_single: log of the dense rank of (vkdnw_dim, vkdnw_entropy)")
# VKDNW_agg (tss_utils.get_scores): VKDNW_single's log rank plus log ranks of E, T, FLOPs and jacov
register_ensemble("vkdnw_agg", [("vkdnw_dim", "vkdnw_entropy"), "az_expressivity", "az_trainability",
                                "flops", "jacov"],
                  description="VKDNW_agg: log ranks of (vkdnw_dim, vkdnw_entropy), expressivity, "
                              "trainability, flops and jacov, summed")
# The recommended ensemble, chosen on NB201 development architectures disjoint from the protocol samples,
# against CIFAR-10 validation accuracy, among candidates fixed beforehand (bench/ensembles_nb201.py dev,
# bench/results/ensembles_nb201_dev.json): VKDNW_agg's members plus progressivity and ePADS.
register_ensemble("ensemble", [("vkdnw_dim", "vkdnw_entropy"), "az_expressivity", "az_progressivity",
                               "az_trainability", "flops", "jacov", "epads"],
                  description="onnxscore's recommended ensemble: log ranks of (vkdnw_dim, vkdnw_entropy), "
                              "AZ-NAS's expressivity, progressivity and trainability, flops, jacov and ePADS, summed")
# For ImageNet16-120 (16x16 inputs, 120 classes): members chosen on the same development rows built and
# scored for ImageNet16-120, by onnxscore.select_ensemble over every member above (greedy, +0.005 dev Kendall
# or stop; bench/ensembles_nb201.py dev-select, bench/results/ensembles_nb201_dev_select-ImageNet16-120.json).
register_ensemble("ensemble_in16", ["epads", "jacov", "az_trainability", "flops"],
                  description="for ImageNet16-120-sized tasks: log ranks of ePADS, jacov, AZ-NAS's "
                              "trainability and flops, summed (chosen on ImageNet16-120 development rows)")
