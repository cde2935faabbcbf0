"""DETR model: the official DETR-R50 checkpoint layout (strict), the small configuration, whitened attention."""
import re

import numpy as np
import pytest
import torch

from uavcine.core import detr as D
from conftest import SHARED
from detr_fixtures import tiny_config

REF = SHARED / 'reference' / 'detr_r50_params.txt'


def reference_layout():
    if not REF.is_file():
        pytest.skip('official layout file not found at %s (shared/ beside the repo, or UAVCINE_SHARED)' % REF)
    rows = []
    for line in REF.read_text().splitlines():
        if line.startswith('#') or not line.strip():
            continue
        key, shape, kind = line.split('\t')
        rows.append((key, tuple(int(v) for v in re.findall(r'\d+', shape)), kind))
    return rows


def random_official_state_dict(rows, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(shape, generator=g) for k, shape, _ in rows}


@pytest.fixture(scope='module')
def r50():
    torch.manual_seed(0)
    return D.DETR(D.detr_r50_config())


@pytest.mark.slow
def test_r50_layout_matches_the_official_names_shapes_and_kinds(r50):
    rows = reference_layout()
    assert len(rows) == 458
    sd = r50.state_dict()
    assert sorted(sd) == sorted(k for k, _, _ in rows)
    params = {n for n, _ in r50.named_parameters()}
    for key, shape, kind in rows:
        assert tuple(sd[key].shape) == shape, key
        assert (key in params) == (kind == 'param'), key


@pytest.mark.slow
def test_random_official_state_dict_loads_strictly_and_via_the_release_format(r50, tmp_path):
    rows = reference_layout()
    sd = random_official_state_dict(rows)
    r50.load_state_dict(sd, strict=True)
    assert torch.equal(r50.query_embed.weight, sd['query_embed.weight'])
    path = tmp_path / 'detr-r50-e632da11.pth'
    torch.save({'model': sd, 'args': None, 'epoch': 499}, path)
    del r50  # keep one R50 in memory at a time
    model = D.load_official_checkpoint(path)
    assert not model.training
    assert torch.equal(model.backbone[0].body.layer4[2].bn3.running_var, sd['backbone.0.body.layer4.2.bn3.running_var'])
    assert model.cfg.class_names[1] == 'person' and model.cfg.num_classes == 91
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 64, 96))
    assert out['pred_logits'].shape == (1, 100, 92) and out['pred_boxes'].shape == (1, 100, 4)


@pytest.mark.slow
def test_official_checkpoint_with_a_missing_key_is_a_clear_error():
    rows = reference_layout()
    sd = random_official_state_dict(rows)
    del sd['class_embed.bias']
    with pytest.raises(ValueError, match='class_embed.bias'):
        D.load_official_checkpoint({'model': sd})


def test_small_model_trains_with_query_groups_and_infers_with_one():
    cfg = tiny_config()
    model = D.DETR(cfg).train()
    out = model(torch.randn(2, 3, cfg.input_height, cfg.input_width))
    assert out['pred_logits'].shape == (2, cfg.num_queries * cfg.num_groups, cfg.num_classes + 1)
    assert len(out['aux_outputs']) == cfg.dec_layers - 1
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, cfg.input_height, cfg.input_width))
    assert out['pred_boxes'].shape == (1, cfg.num_queries, 4) and 'aux_outputs' not in out
    assert float(out['pred_boxes'].min()) >= 0 and float(out['pred_boxes'].max()) <= 1


@pytest.mark.parametrize('mode', ['anchor', 'two_stage', 'two_stage_encoder_content'])
def test_query_groups_do_not_see_each_other(mode):
    """Group DETR: changing group 1's queries leaves group 0's predictions unchanged (self-attention mask)."""
    cfg = tiny_config(dropout=0.0, two_stage=(mode != 'anchor'), anchor_queries=(mode == 'anchor'),
                      query_content='encoder' if mode.endswith('encoder_content') else 'learned')
    torch.manual_seed(1)
    model = D.DETR(cfg).train()
    x = torch.randn(1, 3, cfg.input_height, cfg.input_width)
    model.backbone[0].eval()  # BatchNorm statistics fixed for the comparison
    q = cfg.num_queries
    with torch.no_grad():
        a = model(x)
        first = 1 if cfg.query_content == 'encoder' else q  # encoder content: one learned offset per group
        (model.refpoint_embed if mode == 'anchor' else model.query_embed).weight[first:] += 1.0  # group 1's
        b = model(x)
    for key in ('pred_logits', 'pred_boxes'):
        assert torch.allclose(a[key][:, :q], b[key][:, :q], atol=1e-6)
    assert not torch.allclose(a['pred_logits'][:, q:], b['pred_logits'][:, q:], atol=1e-6)
    mask = D.group_attention_mask(3, 2)
    assert not mask[:3, :3].any() and mask[:3, 3:].all()


def test_two_stage_proposals_are_supervised_and_select_the_anchors():
    cfg = tiny_config()
    assert cfg.two_stage
    model = D.DETR(cfg).train()
    fh, fw = cfg.feature_size
    out = model(torch.randn(2, 3, cfg.input_height, cfg.input_width))
    assert out['enc_outputs']['pred_logits'].shape == (2, fh * fw, cfg.num_classes + 1)
    crit = D.build_criterion(cfg)
    tg = [{'labels': torch.tensor([1]), 'boxes': torch.tensor([[0.5, 0.5, 0.2, 0.2]])}] * 2
    losses = crit(out, tg)
    assert 'loss_giou_enc' in losses and crit.weight_dict['loss_giou_enc'] == cfg.giou_loss_coef
    # at initialisation the decoder's boxes are its anchors, i.e. selected proposals (box heads start at zero)
    enc_boxes = out['enc_outputs']['pred_boxes'][0]
    for box in out['pred_boxes'][0, :cfg.num_queries]:
        assert torch.isclose(enc_boxes, box, atol=1e-5).all(-1).any()
    # one-to-many proposals: each target is matched to enc_one_to_many distinct tokens
    k = crit.enc_one_to_many
    assert k == cfg.enc_one_to_many > 1
    rep = [{'labels': t['labels'].repeat(k), 'boxes': t['boxes'].repeat(k, 1)} for t in tg]
    src, _ = crit.matcher(out['enc_outputs'], rep)[0]
    assert len(set(src.tolist())) == k
    # the decoder's anchors are the best proposals, best first
    model.eval()
    with torch.no_grad():
        src = model.input_proj(model.backbone(torch.randn(1, 3, cfg.input_height, cfg.input_width))[0])
        mem, _ = model.transformer.encode(src, model.backbone[1](src))
        score = model.enc_class_embed(mem.transpose(0, 1))[0].softmax(-1)[:, :-1].max(-1)[0]
        ref, content, _ = model.select_queries(mem, fh, fw)
        tokens = D.grid_anchors(fh, fw, cfg.proposal_wh) + model.enc_bbox_embed(mem.transpose(0, 1))[0]
    picked = [int(torch.isclose(tokens, r, atol=1e-5).all(-1).nonzero()[0]) for r in ref[0]]
    assert picked == score.argsort(descending=True)[:cfg.num_queries].tolist()
    a = D.grid_anchors(2, 3, 0.1).sigmoid()
    assert torch.allclose(a[4], torch.tensor([0.5, 0.75, 0.1, 0.1]))


def test_whitened_attention_matrix_and_size_check():
    cfg = tiny_config(encoder_attention='whitened')
    fh, fw = cfg.feature_size
    model = D.DETR(cfg).eval()
    a = model.transformer.encoder.aux_matrix
    assert a.shape == (fh * fw, fh * fw)
    assert abs(np.linalg.norm(a.numpy(), 2) - 1.0) < 1e-4
    # the whitening part decorrelates the stationary covariance: W C W ~ I
    c = D.stationary_covariance(fh, fw, cfg.whiten_corr_length)
    c = c / (np.trace(c) / len(c))
    w = D.whitening_matrix(c, eps=1e-6)
    assert np.allclose(w @ c @ w, np.eye(len(c)), atol=1e-3)
    with torch.no_grad():
        out = model(torch.randn(1, 3, cfg.input_height, cfg.input_width))
        assert torch.isfinite(out['pred_logits']).all()
        with pytest.raises(ValueError, match='input size'):
            model(torch.randn(1, 3, cfg.input_height * 2, cfg.input_width))
    # whitened encoder layers have no query/key projections
    assert not any('in_proj' in k for k in model.transformer.encoder.state_dict())


def test_calibrated_whitening_replaces_the_matrix():
    cfg = tiny_config(encoder_attention='whitened')
    model = D.DETR(cfg).eval()
    before = model.transformer.encoder.aux_matrix.clone()
    model.calibrate_whitening(torch.randn(4, 3, cfg.input_height, cfg.input_width))
    after = model.transformer.encoder.aux_matrix
    assert after.shape == before.shape and not torch.allclose(after, before)


def test_config_round_trip_and_unknown_fields():
    cfg = tiny_config()
    assert D.DETRConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match='unknown DETR config'):
        D.DETRConfig.from_dict(dict(cfg.to_dict(), bogus=1))
    assert D.feature_size(288, 384, 'small') == (18, 24)
    assert D.feature_size(608, 800, 'resnet50') == (19, 25)


def test_encoder_content_queries_make_the_output_set_independent_of_proposal_order(monkeypatch):
    """With query_content='encoder' the decoder is permutation-equivariant: if top-k returns the same proposals in
    another order (float rounding between backends), the detections are the same set, only permuted."""
    cfg = tiny_config(query_content='encoder')
    torch.manual_seed(3)
    model = D.DETR(cfg).eval()
    with torch.no_grad():
        model.query_embed.weight.normal_()
        for p in model.bbox_embed.parameters():
            p.normal_(std=0.1)
    x = torch.randn(1, 3, cfg.input_height, cfg.input_width)
    select = model.select_queries
    with torch.no_grad():
        a = model(x)
        perm = torch.randperm(cfg.num_queries)
        monkeypatch.setattr(model, 'select_queries',
                            lambda *args: tuple(t[:, perm] for t in select(*args)[:2]) + (select(*args)[2],))
        b = model(x)
    assert torch.allclose(a['pred_logits'][:, perm], b['pred_logits'], atol=1e-5)
    assert torch.allclose(a['pred_boxes'][:, perm], b['pred_boxes'], atol=1e-5)
    # the learned layout pairs content query k with the k-th proposal: the same permutation changes the outputs
    learned = D.DETR(tiny_config(query_content='learned')).eval()
    with torch.no_grad():
        learned.query_embed.weight.normal_()
        c = learned(x)
        sel = learned.select_queries
        monkeypatch.setattr(learned, 'select_queries',
                            lambda *args: tuple(t[:, perm] for t in sel(*args)[:2]) + (sel(*args)[2],))
        d = learned(x)
    assert not torch.allclose(c['pred_logits'][:, perm], d['pred_logits'], atol=1e-5)
    with pytest.raises(ValueError, match='query_content'):
        D.DETR(tiny_config(query_content='bogus'))


def test_each_query_scheme_is_its_own_class_and_the_paper_detr_stays_pure():
    assert type(D.DETR(tiny_config(two_stage=False, anchor_queries=False))) is D.DETR
    assert type(D.DETR(tiny_config(two_stage=False, anchor_queries=True))) is D.AnchorDETR
    two = D.DETR(tiny_config())
    assert isinstance(two, D.TwoStageDETR) and isinstance(two, D.DETR)
    paper = D.DETR(tiny_config(two_stage=False, anchor_queries=False))
    assert not any(k.startswith(('enc_', 'refpoint', 'query_pos_head')) for k in paper.state_dict())
    # the same parameter names as before the split: a checkpoint of either construction loads strictly
    D.build_detr(two.cfg).load_state_dict(two.state_dict(), strict=True)
