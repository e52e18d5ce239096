"""Research script: is the disease signal in the preprocessed OASIS-2 phantom volumes? (README, "Known limits")

  /usr/bin/python3 scripts/experiments/oasis-features.py data/oasis2/<cache folder> data/phantoms/<cohort>

Prints the AUC for AD (CDR > 0) of the mean intensity inside the ground-truth atrophy masks and of simple brain
features, and the balanced accuracy of a logistic regression on 8^3-averaged volumes (3-fold CV grouped by subject).
Needs numpy and nibabel (Debian python3-nibabel).
"""
import nibabel as nib, numpy as np, csv, glob, os, sys
d = sys.argv[1]; root = sys.argv[2]
rows = {r['MRI ID']: r for r in csv.DictReader(open(root + '/oasis_longitudinal.csv'))}
X=[]; y=[]; F=[]; subj=[]
for f in sorted(glob.glob(d + '/*_MR?.nii.gz')):
    mid = os.path.basename(f).split('.')[0]
    v = nib.load(f).get_fdata().astype(np.float32)
    gt = nib.load(f.replace('.nii.gz', '.gt.nii.gz')).get_fdata()
    br = nib.load(f.replace('.nii.gz', '.brain.nii.gz')).get_fdata()
    lab = 1 if float(rows[mid]['CDR']) > 0 else 0
    y.append(lab); subj.append(rows[mid]['Subject ID'])
    F.append([v[gt>0].mean(), (gt>0).sum(), v[br>0].mean(), (v[br>0] < 0.2).mean()])
    s = v.shape[0]//8
    X.append(v.reshape(8, s, 8, s, 8, s).mean(axis=(1,3,5)).ravel())
y=np.array(y); F=np.array(F); X=np.array(X)
def auc(x, y):
    from itertools import product
    p = x[y==1]; n = x[y==0]
    return ((p[:,None] > n[None,:]).mean() + 0.5*(p[:,None]==n[None,:]).mean())
print('n', len(y), 'AD', y.sum())
for i, name in enumerate(['gt mean intensity', 'gt voxels', 'brain mean', 'brain dark share']):
    print(name, round(auc(F[:,i], y), 3))
# logistic regression with subject-grouped CV
subs = sorted(set(subj)); rng = np.random.default_rng(0); rng.shuffle(subs)
fold = {s: i % 3 for i, s in enumerate(subs)}
fi = np.array([fold[s] for s in subj])
pred = np.zeros(len(y))
for k in range(3):
    tr = fi != k; te = fi == k
    mu = X[tr].mean(0); sd = X[tr].std(0) + 1e-6
    A = (X[tr]-mu)/sd; B = (X[te]-mu)/sd
    w = np.zeros(A.shape[1]); b = 0.0
    for it in range(2000):
        p = 1/(1+np.exp(-(A@w+b)))
        g = A.T@(p-y[tr])/len(A) + 1e-2*w
        w -= 0.1*g; b -= 0.1*(p-y[tr]).mean()
    pred[te] = B@w + b
acc = ((pred>0)==y); 
print('logreg 8^3 balanced acc', 0.5*(acc[y==1].mean()+acc[y==0].mean()), 'auc', auc(pred,y))
