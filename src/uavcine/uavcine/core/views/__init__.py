"""Novel-view synthesis for planned shots (seed section 4.2): a VQ tokenizer, a camera-conditioned GPT
(GeoGPT, Rombach et al. ICCV 2021), the camera encoding, the depth-reprojection peer, and the loop that
generates the N views of a shot."""
